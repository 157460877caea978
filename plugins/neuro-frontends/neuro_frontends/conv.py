"""NDN3's ``conv`` layer, replicated: K filters of c x c x channels, stride s, SAME padding.

Input: the flat (y, x, channels) image. Output: f(conv2d(image, W, stride s) + b), flattened in
(y', x', K) order with y' = ceil(y / s), x' = ceil(x / s) (NDN3's num_shifts). The kernel is
W[dy, dx, c, k] (NDN3 reshapes its (c*c*channels, K) weights to that layout, so the same draw
fills both). TensorFlow's SAME padding puts the extra zero of an even padding after the image.
Regularisers see W as (c, c, channels, K): d2x smooths each filter in space, max_filt / max_space
act across channels / positions, group_sparsity sums the spatial L2 norms of each (channel,
filter) kernel. ``padding: valid`` is an addition (output ceil((y - c + 1) / s)).
"""

from __future__ import annotations

import keras

from msc_neuro_cli.api.layers import ReplicatedLayer
from msc_neuro_cli.api import ManifestError
from neuro_basics.dropout import DropoutMixin
from neuro_basics.layer_ops import as_image, conv_output_size, flatten_image, replicated_conv2d

from .params import CONV_PARAMS


@keras.saving.register_keras_serializable(package="neuro")
class Conv(DropoutMixin, ReplicatedLayer):
    PARAMS = CONV_PARAMS

    def __init__(self, params, input_dims, replicas=1, **kwargs):
        super().__init__(params, input_dims, replicas, **kwargs)
        y, x, _ = self.input_dims
        if min(self.output_dims()[:2]) < 1:
            raise ManifestError(f"{self.name}: a {self.params['width']}x{self.params['width']} 'valid' "
                                f"convolution does not fit the {y}x{x} input")

    def kernel_shape(self) -> tuple[int, int, int, int]:
        c = self.params["width"]
        return (c, c, self.input_dims[2], self.params["filters"])

    def weight_shapes(self):
        return {"kernel": self.kernel_shape(), "bias": (self.params["filters"],)}

    def output_dims(self):
        y, x, _ = self.input_dims
        c, s, pad = self.params["width"], self.params["stride"], self.params["padding"]
        return (conv_output_size(y, c, s, pad), conv_output_size(x, c, s, pad), self.params["filters"])

    def initial_value(self, name, rng):
        shape = self.weight_shapes()[name]
        if name == "kernel":
            return self.initializer(self.params["init"])(rng, shape, "weights")
        return self.initializer(self.params["bias_init"])(rng, shape, "bias")

    def convolve(self, x):
        """(R, B, in_features) -> (R, B, y', x', K), without bias."""
        return replicated_conv2d(as_image(x, self.input_dims), self.weight("kernel"),
                                 self.params["stride"], self.params["padding"])

    def forward(self, x, training):
        return flatten_image(self.convolve(x) + self.weight("bias")[:, None, None, None, :])

    def regularized_weights(self, regularizer):
        return [self.weight("kernel")]
