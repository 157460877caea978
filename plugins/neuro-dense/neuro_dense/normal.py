"""NDN3's ``normal`` layer, replicated: y = f(x W + b), W (in, units), no weight normalisation."""

from __future__ import annotations

import keras
import tensorflow as tf

from msc_neuro_cli.engine.component import ReplicatedLayer
from msc_neuro_cli.params import Param


def _initializer(name):
    from msc_neuro_cli.plugins import registries
    return registries().components.initializers.get(name)


@keras.saving.register_keras_serializable(package="neuro")
class Dense(ReplicatedLayer):
    PARAMS = {
        "units": Param((int, str), help="output units: an integer, 'N' (neurons) or '0.2N'"),
        "init": Param(str, "normal", "weight initialiser (normal, trunc_normal, zeros)"),
        "bias_init": Param(str, "zeros", "bias initialiser (zeros, trunc_normal, normal)"),
    }

    def weight_shapes(self):
        return {"kernel": (self.in_features, self.params["units"]), "bias": (self.params["units"],)}

    def output_dims(self):
        return (1, 1, self.params["units"])

    def initial_value(self, name, rng):
        shape = self.weight_shapes()[name]
        if name == "kernel":
            return _initializer(self.params["init"])(rng, shape, "weights")
        return _initializer(self.params["bias_init"])(rng, shape, "bias")

    def forward(self, x, training):
        return tf.matmul(x, self.weight("kernel")) + self.weight("bias")[:, None, :]
