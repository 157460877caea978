"""Replicated convolutions for convolutional cores: every replica has its own filters.

Layout: activations x are (R, B, H, W, C) (replica, row, height, width, channel); filters carry
the same leading replica axis R. All ops are cross-correlations with TensorFlow's SAME / VALID
padding rules and no bias.

    first_conv(x, w)            w (R, k, k, Cin, Cout)   y[r] = conv2d(x[r], w[r])
    full_conv(x, w, padding)    w (R, k, k, Cin, Cout)   y[r] = conv2d(x[r], w[r])
    depthwise_conv(x, w, pad)   w (R, k, k, C)           y[r, ..., c] = conv2d(x[r, ..., c], w[r, ..., c])
    pointwise_conv(x, w)        w (R, Cin, Cout)         y[r] = x[r] @ w[r]   (a 1 x 1 convolution)

Replicas are folded into channels where the maths allows: a depthwise convolution over
(B, H, W, R*C) with filters (k, k, R*C, 1) is exactly R independent depthwise convolutions, and a
first convolution of grey images (Cin = 1) is a depthwise convolution of (B, H, W, R) with
channel multiplier Cout. A pointwise convolution is one batched matrix product over R.
"""

from __future__ import annotations

import tensorflow as tf

from msc_neuro_cli.errors import NeuroError


class ConvShapeError(NeuroError):
    """Filters or padding that do not fit the activations."""


def _padding(padding: str) -> str:
    value = str(padding).upper()
    if value not in ("SAME", "VALID"):
        raise ConvShapeError(f"padding must be 'same' or 'valid', got {padding!r}")
    return value


def _check(x, w, rank: int, what: str):
    if len(w.shape) != rank:
        raise ConvShapeError(f"{what}: filters must have rank {rank}, got shape {tuple(w.shape)}")
    if x.shape[0] is not None and w.shape[0] is not None and x.shape[0] != w.shape[0]:
        raise ConvShapeError(f"{what}: {x.shape[0]} replicas in the input, {w.shape[0]} in the filters")


def fold(x):
    """(R, B, H, W, C) -> (B, H, W, R*C), channel index r*C + c."""
    r, c = x.shape[0], x.shape[-1]
    s = tf.shape(x)
    return tf.reshape(tf.transpose(x, [1, 2, 3, 0, 4]), [s[1], s[2], s[3], r * c])


def unfold(y, replicas: int):
    """(B, H, W, R*C) -> (R, B, H, W, C): the inverse of :func:`fold`."""
    c = y.shape[-1] // replicas
    s = tf.shape(y)
    return tf.transpose(tf.reshape(y, [s[0], s[1], s[2], replicas, c]), [3, 0, 1, 2, 4])


def depthwise_conv(x, w, padding: str = "same"):
    """x (R, B, H, W, C), w (R, k, k, C) -> (R, B, H', W', C): one k x k filter per channel and replica."""
    x, w = tf.convert_to_tensor(x), tf.convert_to_tensor(w)
    _check(x, w, 4, "depthwise_conv")
    r, kh, kw, c = w.shape
    filters = tf.reshape(tf.transpose(w, [1, 2, 0, 3]), [kh, kw, r * c, 1])
    y = tf.nn.depthwise_conv2d(fold(x), filters, [1, 1, 1, 1], _padding(padding))
    return unfold(y, r)


def full_conv(x, w, padding: str = "same"):
    """x (R, B, H, W, Cin), w (R, k, k, Cin, Cout) -> (R, B, H', W', Cout)."""
    x, w = tf.convert_to_tensor(x), tf.convert_to_tensor(w)
    _check(x, w, 5, "full_conv")
    pad = _padding(padding)
    if w.shape[3] == 1:  # grey input: a depthwise convolution of the replicas with multiplier Cout
        r, kh, kw, _, cout = w.shape
        filters = tf.transpose(w[:, :, :, 0, :], [1, 2, 0, 3])              # (k, k, R, Cout)
        y = tf.nn.depthwise_conv2d(fold(x), filters, [1, 1, 1, 1], pad)       # channel r*Cout + o
        return unfold(y, r)
    return tf.stack([tf.nn.conv2d(x[i], w[i], [1, 1, 1, 1], pad) for i in range(w.shape[0])])


def first_conv(x, w, padding: str = "valid"):
    """The core's first layer: :func:`full_conv` with VALID padding by default (the field's core)."""
    return full_conv(x, w, padding)


def pointwise_conv(x, w):
    """x (R, B, H, W, Cin), w (R, Cin, Cout) -> (R, B, H, W, Cout): a 1 x 1 convolution per replica."""
    x, w = tf.convert_to_tensor(x), tf.convert_to_tensor(w)
    _check(x, w, 3, "pointwise_conv")
    s = tf.shape(x)
    rows = tf.reshape(x, [s[0], -1, x.shape[-1]])
    return tf.reshape(tf.matmul(rows, w), [s[0], s[1], s[2], s[3], w.shape[-1]])
