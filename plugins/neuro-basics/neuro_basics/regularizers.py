"""Weight penalties per replica. Weights arrive as (R, y, x, channels, units); result is (R,).

NDN3 writes its penalties as matrix forms on the weight matrix W (rows: inputs flattened with the
channel ("filter") index fastest, then x, then y; columns: units). The ``max`` family is
lambda * tr((W o W)^T M (W o W)) with M = 11^T - I over all rows (``max``), over the channels of
each pixel (``max_filt``, M = I_pix (x) (11^T - I)_filt) or over the pixels of each channel
(``max_space``, M = (11^T - I)_pix (x) I_filt). Because 11^T - I only removes the diagonal, the
trace equals sum over units and groups of (sum w^2)^2 - sum w^4, which is what is computed here
(no dense matrix; the tests check both forms agree).

Which weights a regulariser sees is the layer's choice (``regularized_weights``): a separable
readout hands its feature part to ``max_filt``/``norm2_filt`` and its spatial part to
``d2x``/``max_space``/``norm2_space``, as NDN3's SepRegularization.
"""

import tensorflow as tf

_ALL = [1, 2, 3, 4]
GROUP_EPS = 1e-12  # keeps the gradient of sqrt finite where a whole group is exactly zero


def l1(w, strength):
    """lambda * sum |w|."""
    return strength * tf.reduce_sum(tf.abs(w), axis=_ALL)


def l2(w, strength):
    """lambda * 1/2 * sum w^2 (NDN3 uses tf.nn.l2_loss)."""
    return strength * 0.5 * tf.reduce_sum(tf.square(w), axis=_ALL)


def _second_difference(w, axis):
    """D w along ``axis`` with D = tridiag(1, -2, 1) and zero outside (a size-1 axis gives -2 w)."""
    paddings = [[0, 0]] * 5
    paddings[axis] = [1, 1]
    padded = tf.pad(w, paddings)
    n = w.shape[axis]
    before = tf.gather(padded, tf.range(0, n), axis=axis)
    after = tf.gather(padded, tf.range(2, n + 2), axis=axis)
    return before + after - 2.0 * w


def d2x(w, strength):
    """lambda * ||L w||^2, the thesis pipeline's spatial Laplacian with zero boundary, per channel and unit.

    L = I_y (x) D_x + D_y (x) I_x with D = tridiag(1, -2, 1) (a 1x1 D is [-2]). As NDN3's
    create_tikhonov_matrix, an input one pixel high (y = 1, a plain vector) gets the 1-D operator
    L = D_x only.
    """
    lap = _second_difference(w, 2)
    if w.shape[1] != 1:
        lap = lap + _second_difference(w, 1)
    return strength * tf.reduce_sum(tf.square(lap), axis=_ALL)


def _max_penalty(w2, sum_axes):
    """sum over units (and the other axes) of (sum_{sum_axes} w2)^2 - sum_{sum_axes} w2^2."""
    grouped = tf.reduce_sum(w2, axis=sum_axes)
    squares = tf.reduce_sum(tf.square(w2), axis=sum_axes)
    rest = list(range(1, len(grouped.shape)))
    return tf.reduce_sum(tf.square(grouped) - squares, axis=rest)


def max_penalty(w, strength):
    """lambda * tr((W o W)^T (11^T - I) (W o W)): discourages several large weights per unit."""
    return strength * _max_penalty(tf.square(w), [1, 2, 3])


def max_filt(w, strength):
    """M = I_pix (x) (11^T - I)_filt: one dominant channel per pixel and unit."""
    return strength * _max_penalty(tf.square(w), [3])


def max_space(w, strength):
    """M = (11^T - I)_pix (x) I_filt: one dominant pixel per channel and unit."""
    return strength * _max_penalty(tf.square(w), [1, 2])


def norm2(w, strength):
    """lambda * (sum w^2 - units)^2 (NDN3: total squared norm pulled to the number of outputs)."""
    units = float(w.shape[-1])
    return strength * tf.square(tf.reduce_sum(tf.square(w), axis=_ALL) - units)


def group_sparsity(w, strength):
    """lambda * sum_{channels c, units u} sqrt(sum_{y,x} w[y, x, c, u]^2) (Klindt et al. 2017).

    The L2 norm of each (input channel, output unit) spatial kernel, summed: whole input channels
    of a unit are switched off. ``GROUP_EPS`` is added under the root.
    """
    norms = tf.sqrt(tf.reduce_sum(tf.square(w), axis=[1, 2]) + GROUP_EPS)
    return strength * tf.reduce_sum(norms, axis=[1, 2])


def _laplacian(w):
    """The 5-point Laplacian 4 w[y, x] - w[y±1, x] - w[y, x±1] of every (channel, unit) filter, zeros
    outside the filter (the negative of d2x's L w)."""
    return -(_second_difference(w, 1) + _second_difference(w, 2))


def laplace_l2norm(w, strength):
    """lambda * sum ||Lap w_{c,u}||^2 / sum ||w_{c,u}||^2 over all channels c and units u (neuralpredictors'
    LaplaceL2norm, the field's first-layer penalty): the Laplacian zero-padded to the filter's size, the
    squares summed over every filter, then divided by the summed squared weights (one ratio per replica)."""
    return strength * tf.reduce_sum(tf.square(_laplacian(w)), axis=_ALL) / _total_square(w)


def laplace_l2norm_valid(w, strength):
    """As :func:`laplace_l2norm`, the Laplacian only where the 3 x 3 stencil fits inside the filter
    (neuralpredictors' ``laplace_padding=0``)."""
    lap = _laplacian(w)[:, 1:-1, 1:-1]
    return strength * tf.reduce_sum(tf.square(lap), axis=_ALL) / _total_square(w)


def _total_square(w):
    return tf.maximum(tf.reduce_sum(tf.square(w), axis=_ALL), 1e-30)  # an all-zero filter bank gives 0, not NaN


REGULARIZERS = {
    "l1": l1,
    "l2": l2,
    "d2x": d2x,
    "max": max_penalty,
    "max_filt": max_filt,
    "max_space": max_space,
    "norm2": norm2,
    # The _filt / _space variants are the same formula on the part of the weights the layer hands
    # them (a separable readout's feature / spatial kernels; a conv kernel is all filter).
    "norm2_filt": norm2,
    "norm2_space": norm2,
    "group_sparsity": group_sparsity,
    "laplace_l2norm": laplace_l2norm,
    "laplace_l2norm_valid": laplace_l2norm_valid,
}
