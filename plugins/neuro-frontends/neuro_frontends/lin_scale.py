"""The thesis pipeline's ``lin_scale`` input layer: y = f(w x + b) with one scalar w and one scalar b.

Initialised to the identity (w = 1, b = 0); output dims equal input dims. Used by bs3_exp10 to
let the network learn the input scale instead of fixing it by preprocessing. Not regularised.
"""

from __future__ import annotations

import keras
import numpy as np

from msc_neuro_cli.api.layers import ReplicatedLayer

from .params import LIN_SCALE_PARAMS


@keras.saving.register_keras_serializable(package="neuro")
class LinScale(ReplicatedLayer):
    PARAMS = LIN_SCALE_PARAMS

    def weight_shapes(self):
        return {"scale": (1,), "offset": (1,)}

    def initial_value(self, name, rng):
        return np.ones(1) if name == "scale" else np.zeros(1)

    def output_dims(self):
        return self.input_dims

    def forward(self, x, training):
        return x * self.weight("scale")[:, None, :] + self.weight("offset")[:, None, :]

    def regularized_weights(self, regularizer):
        return []
