"""NDN3's ``normal`` layer, replicated: y = f(x W + b), W (in, units), no weight normalisation.

``dropout`` (rate = 1 - NDN3's keep_prob) drops outputs while training, as NDN3's reg_list
``dropout`` did (see neuro_basics.dropout).
"""

from __future__ import annotations

import keras

from msc_neuro_cli.api.layers import ReplicatedLayer, dense_product
from neuro_basics.dropout import DropoutMixin

from .params import DENSE_PARAMS


@keras.saving.register_keras_serializable(package="neuro")
class Dense(DropoutMixin, ReplicatedLayer):
    PARAMS = DENSE_PARAMS

    def weight_shapes(self):
        return {"kernel": (self.in_features, self.params["units"]), "bias": (self.params["units"],)}

    def output_dims(self):
        return (1, 1, self.params["units"])

    def initial_value(self, name, rng):
        shape = self.weight_shapes()[name]
        if name == "kernel":
            return self.initializer(self.params["init"])(rng, shape, "weights")
        return self.initializer(self.params["bias_init"])(rng, shape, "bias")

    def forward(self, x, training):
        return dense_product(x, self.weight("kernel")) + self.weight("bias")[:, None, :]
