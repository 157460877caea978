"""NDN3's ``conv_diff_of_gaussians``: the DoG of :mod:`.dog` as a convolution filter.

Each of K filters is the 8-parameter difference of Gaussians (see :func:`.dog.dog_filters`) built
on a c x c grid (x, y = 0 .. c-1) with sigma in (1, int(0.82 c)) and centres ux, uy in (2, c - 2),
broadcast to a [c, c, 1, K] kernel and applied as conv2d with SAME padding and stride s (NDN3
``shift_spacing``). Output f(conv + b), flattened (y', x', K), y' = ceil(y / s).

For c < 4 the centre bounds (2, c - 2) are empty; clipping (TensorFlow's clip_by_value is
max(min(v, high), low)) then pins the centre at 2, the last pixel of a 3-wide grid, as in the thesis pipeline.
Not regularised (NDN3: reg_initializer None).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from msc_neuro_cli.api.layers import ReplicatedLayer
from msc_neuro_cli.api import ManifestError
from neuro_basics.layer_ops import as_image, conv_output_size, flatten_image, replicated_conv2d

from .dog import dog_filters, random_dog_parameters
from .params import CONV_DOG_PARAMS


@keras.saving.register_keras_serializable(package="neuro")
class ConvDifferenceOfGaussians(ReplicatedLayer):
    PARAMS = CONV_DOG_PARAMS

    def __init__(self, params, input_dims, replicas=1, **kwargs):
        super().__init__(params, input_dims, replicas, **kwargs)
        if self.input_dims[2] != 1:
            raise ManifestError(f"{self.name}: conv_diff_of_gaussians needs a one-channel image, "
                                f"got dims {self.input_dims}")

    def sigma_bounds(self) -> tuple[float, float]:
        bounds = self.params.get("sigma_bounds")
        if bounds is None:
            return (1.0, float(int(0.82 * self.params["width"])))
        return (float(bounds[0]), float(bounds[1]))

    def weight_shapes(self):
        return {"kernel": (8, self.params["filters"]), "bias": (self.params["filters"],)}

    def output_dims(self):
        y, x, _ = self.input_dims
        c, s = self.params["width"], self.params["stride"]
        return (conv_output_size(y, c, s, "same"), conv_output_size(x, c, s, "same"), self.params["filters"])

    def initial_value(self, name, rng):
        k = self.params["filters"]
        if name == "bias":
            return self.initializer(self.params["bias_init"])(rng, (k,), "bias")
        if self.params["init"] == "zeros":
            return np.zeros((8, k))
        c = self.params["width"]
        return random_dog_parameters(rng, k, c, c, self.sigma_bounds(), self.params["alpha_max"])

    def filters(self):
        """(R, c, c, 1, K) kernels from the clipped parameters."""
        c = self.params["width"]
        flat = dog_filters(self.weight("kernel"), c, c, self.params["impl_sigma"],
                           self.params["impl_concentric"], self.sigma_bounds())
        return tf.reshape(flat, (self.replicas, c, c, 1, self.params["filters"]))

    def forward(self, x, training):
        out = replicated_conv2d(as_image(x, self.input_dims), self.filters(), self.params["stride"], "same")
        return flatten_image(out + self.weight("bias")[:, None, None, None, :])

    def regularized_weights(self, regularizer):
        return []
