"""Replicated convolutions for convolutional cores: every replica has its own filters.

Layout: activations x are (R, B, H, W, C) (replica, row, height, width, channel); filters carry
the same leading replica axis R. All ops are cross-correlations with TensorFlow's SAME / VALID
padding rules, stride 1 and no bias.

    first_conv(x, w)            w (R, k, k, Cin, Cout)   y[r] = conv2d(x[r], w[r]), VALID by default
    full_conv(x, w, padding)    w (R, k, k, Cin, Cout)   y[r] = conv2d(x[r], w[r])
    depthwise_conv(x, w, pad)   w (R, k, k, C)           y[r, ..., c] = conv2d(x[r, ..., c], w[r, ..., c])
    pointwise_conv(x, w)        w (R, Cin, Cout)         y[r] = x[r] @ w[r]   (a 1 x 1 convolution)
    pointwise_depthwise(x, a, b, pad)                    depthwise_conv(pointwise_conv(x, a), b, pad),
                                                         its middle recomputed for the gradient

How each is computed was chosen by measurement on a 2-core AVX-512 CPU (bench/bench_conv.py,
docs/performance.md, "Convolutional cores on CPU"):
- depthwise: TensorFlow's forward depthwise kernel per replica for everything: the output; the
  input gradient (flipped filters, 1.5x TensorFlow's own); the filter gradient, TensorFlow's
  slowest part (about 7x the forward), with the roles of image and filter swapped, one op per row
  (:func:`depthwise_filter_gradient`, about 5x faster).
- first layer and full layers: TensorFlow's conv2d (oneDNN) per replica.
- pointwise: one batched matrix product over replicas.
"""

from __future__ import annotations

import tensorflow as tf

from msc_neuro_cli.api import NeuroError

ONES = [1, 1, 1, 1]


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


# ---------------------------------------------------------------------------- depthwise
def same_pads(k: int) -> tuple[int, int]:
    """TensorFlow's SAME padding (before, after) of a k-tap stride-1 axis."""
    return (k - 1) // 2, k - 1 - (k - 1) // 2


def depthwise_filter_gradient(x, dy, k: int, padding: str):
    """dL/dw (k, k, C) of a depthwise convolution of x (B, H, W, C) whose output gradient is dy.

        dw[i, j, c] = sum over b, h, w of xp[b, h + i, w + j, c] * dy[b, h, w, c]

    (xp: x padded as the forward pass padded it). For one row b that sum over (h, w) is itself a
    VALID depthwise convolution: of the image xp[b] by dy[b] as an (H', W') filter per channel,
    output k x k. TensorFlow's forward kernel computes it from the rows as they lie in memory (no
    transposes), one small op per row, about 5x faster than TensorFlow's own filter gradient.
    An unknown number of rows takes one op over all rows folded into channels (about 1.4x).
    """
    if _padding(padding) == "SAME":
        before, after = same_pads(k)
        x = tf.pad(x, [[0, 0], [before, after], [before, after], [0, 0]])
    rows, c = x.shape[0], x.shape[-1]
    if rows is not None:
        return tf.add_n([tf.nn.depthwise_conv2d(x[b:b + 1], dy[b][..., None], ONES, "VALID")[0]
                         for b in range(rows)])
    b = tf.shape(x)[0]
    image = tf.transpose(x, [1, 2, 0, 3])                            # (Hp, Wp, B, C)
    image = tf.reshape(image, [1, tf.shape(image)[0], tf.shape(image)[1], b * c])
    filters = tf.transpose(dy, [1, 2, 0, 3])                        # (H', W', B, C)
    filters = tf.reshape(filters, [tf.shape(dy)[1], tf.shape(dy)[2], b * c, 1])
    per_row = tf.nn.depthwise_conv2d(image, filters, ONES, "VALID")  # (1, k, k, B*C)
    return tf.reduce_sum(tf.reshape(per_row, [k, k, b, c]), axis=2)


def depthwise_input_gradient(dy, filters, padding: str):
    """dL/dx of a depthwise convolution by ``filters`` (k, k, C, 1): the full correlation of dy with
    the filters flipped, a forward depthwise convolution (1.5x faster than TensorFlow's own)."""
    k = filters.shape[0]
    flipped = filters[::-1, ::-1]
    before, after = same_pads(k) if _padding(padding) == "SAME" else (0, 0)
    if before == after and _padding(padding) == "SAME":
        return tf.nn.depthwise_conv2d(dy, flipped, ONES, "SAME")
    lo, hi = k - 1 - before, k - 1 - after
    dy = tf.pad(dy, [[0, 0], [lo, hi], [lo, hi], [0, 0]])
    return tf.nn.depthwise_conv2d(dy, flipped, ONES, "VALID")


def depthwise2d(x, w, padding: str = "same"):
    """One replica: x (B, H, W, C), w (k, k, C) -> (B, H', W', C), with the fast filter gradient."""
    pad = _padding(padding)
    k = w.shape[0]

    @tf.custom_gradient
    def conv(x, w):
        filters = w[..., None]
        y = tf.nn.depthwise_conv2d(x, filters, ONES, pad)

        def grad(dy):
            return depthwise_input_gradient(dy, filters, pad), depthwise_filter_gradient(x, dy, k, pad)
        return y, grad

    return conv(tf.convert_to_tensor(x), tf.convert_to_tensor(w))


def depthwise_conv(x, w, padding: str = "same"):
    """x (R, B, H, W, C), w (R, k, k, C) -> (R, B, H', W', C): one k x k filter per channel and replica."""
    x, w = tf.convert_to_tensor(x), tf.convert_to_tensor(w)
    _check(x, w, 4, "depthwise_conv")
    # unstack, not x[r]: the gradient of R slices is R full-size scatters (16x slower at R = 2)
    return tf.stack([depthwise2d(xr, wr, padding) for xr, wr in zip(tf.unstack(x), tf.unstack(w))])


def pointwise_depthwise(x, w_in, w_dw, padding: str = "same"):
    """``depthwise_conv(pointwise_conv(x, w_in), w_dw, padding)``, the same numbers, keeping only
    x and the filters for the gradient: the 1 x 1 convolution's output (the depthwise filter
    gradient's input) is recomputed there, one matrix product per replica, instead of being held
    from the forward pass to the backward one. On the standard core (28 x 56 x 64 maps, batch 64)
    that is 25 MB per separable layer and replica at the step's peak (docs/performance.md)."""
    x, w_in, w_dw = (tf.convert_to_tensor(v) for v in (x, w_in, w_dw))
    _check(x, w_in, 3, "pointwise_depthwise")
    pad, k = _padding(padding), w_dw.shape[1]

    @tf.custom_gradient
    def conv(x, w_in, w_dw):
        mid = pointwise_conv(x, w_in)
        y = tf.stack([tf.nn.depthwise_conv2d(m, w[..., None], ONES, pad)
                      for m, w in zip(tf.unstack(mid), tf.unstack(w_dw))])

        def grad(dy):
            with tf.control_dependencies([dy]):  # else a graph may compute it early and hold it after all
                mid = pointwise_conv(x, w_in)
            dmid, dw_dw = [], []
            for m, w, d in zip(tf.unstack(mid), tf.unstack(w_dw), tf.unstack(dy)):
                dmid.append(depthwise_input_gradient(d, w[..., None], pad))
                dw_dw.append(depthwise_filter_gradient(m, d, k, pad))
            s = tf.shape(x)
            rows = tf.reshape(x, [s[0], -1, x.shape[-1]])
            drows = tf.reshape(tf.stack(dmid), [s[0], -1, w_in.shape[-1]])
            dx = tf.reshape(tf.matmul(drows, w_in, transpose_b=True), s)
            return dx, tf.matmul(rows, drows, transpose_a=True), tf.stack(dw_dw)
        return y, grad

    return conv(x, w_in, w_dw)


# ---------------------------------------------------------------------------- full and pointwise
def full_conv(x, w, padding: str = "same"):
    """x (R, B, H, W, Cin), w (R, k, k, Cin, Cout) -> (R, B, H', W', Cout), one conv2d per replica."""
    x, w = tf.convert_to_tensor(x), tf.convert_to_tensor(w)
    _check(x, w, 5, "full_conv")
    pad = _padding(padding)
    return tf.stack([tf.nn.conv2d(xr, wr, ONES, pad) for xr, wr in zip(tf.unstack(x), tf.unstack(w))])


def first_conv(x, w, padding: str = "valid"):
    """The core's first layer: :func:`full_conv`, VALID by default (the field's core pads nothing).

    One oneDNN conv2d per replica; patches times filters (im2col, one batched product) measured
    about 5x slower for 9 x 9 grey filters, a depthwise convolution with channel multiplier Cout
    of the replicas folded into channels hits TensorFlow's slow depthwise filter gradient.
    """
    return full_conv(x, w, padding)


def pointwise_conv(x, w):
    """x (R, B, H, W, Cin), w (R, Cin, Cout) -> (R, B, H, W, Cout): a 1 x 1 convolution per replica."""
    x, w = tf.convert_to_tensor(x), tf.convert_to_tensor(w)
    _check(x, w, 3, "pointwise_conv")
    s = tf.shape(x)
    rows = tf.reshape(x, [s[0], -1, x.shape[-1]])
    return tf.reshape(tf.matmul(rows, w), [s[0], s[1], s[2], s[3], w.shape[-1]])
