"""Small pieces shared by the component plugins: replicated convolution, parameter checks.

Convolution with a replica axis is a Python loop of R ordinary ``conv2d`` calls, stacked. On the
CPU this was measured faster than folding replicas into channels (grouped convolution, which XLA
on CPU compiles to a very slow kernel), a depthwise convolution, or ``tf.vectorized_map``
(which XLA cannot compile): see docs/components.md.
"""

from __future__ import annotations

import math

import tensorflow as tf

from neuro_basics.params import regularizers_param  # noqa: F401  (re-exported: plugins import it here)


def as_image(x, dims):
    """(R, B, y*x*c) -> (R, B, y, x, c)."""
    y, w, c = dims
    return tf.reshape(x, (tf.shape(x)[0], tf.shape(x)[1], y, w, c))


def flatten_image(x):
    """(R, B, y, x, c) -> (R, B, y*x*c), in (y, x, c) order."""
    y, w, c = x.shape[2], x.shape[3], x.shape[4]
    return tf.reshape(x, (tf.shape(x)[0], tf.shape(x)[1], y * w * c))


def conv_output_size(size: int, width: int, stride: int, padding: str) -> int:
    """Output length of one spatial axis (TensorFlow's SAME / VALID rules)."""
    if padding == "same":
        return math.ceil(size / stride)
    return math.ceil((size - width + 1) / stride)


def replicated_conv2d(images, kernel, stride: int, padding: str = "same"):
    """images (R, B, y, x, c), kernel (R, kh, kw, c, K) -> (R, B, y', x', K); replica r uses kernel r."""
    replicas = kernel.shape[0]
    strides = [1, stride, stride, 1]
    return tf.stack([tf.nn.conv2d(images[r], kernel[r], strides, padding.upper())
                     for r in range(replicas)])
