"""Small pieces shared by the component plugins: replicated convolution, parameter checks.

Convolution with a replica axis is a Python loop of R ordinary ``conv2d`` calls, stacked. On the
CPU this was measured faster than folding replicas into channels (grouped convolution, which XLA
on CPU compiles to a very slow kernel), a depthwise convolution, or ``tf.vectorized_map``
(which XLA cannot compile): see docs/components.md.
"""

from __future__ import annotations

import math

import tensorflow as tf

from msc_neuro_cli.api import Param


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


def _check_regularizers(allowed):
    def check(value):
        if not isinstance(value, dict):
            return "expected a mapping regularizer name -> strength"
        for name, strength in value.items():
            if allowed is not None and name not in allowed:
                return f"regularizer {name!r} does not apply to this component (allowed: {', '.join(allowed)})"
            if isinstance(strength, bool) or not isinstance(strength, (int, float)) or strength < 0:
                return f"strength of {name!r} must be a number >= 0, got {strength!r}"
        return None
    return check


def regularizers_param(allowed: tuple[str, ...] | None = None, where: str = "") -> Param:
    """The ``regularizers`` key, checked: strengths >= 0 and (if given) names among ``allowed``."""
    help_text = "mapping regularizer name -> strength, e.g. {l2: 0.1}"
    if where:
        help_text += f"; {where}"
    return Param(dict, None, help_text, check=_check_regularizers(allowed))

