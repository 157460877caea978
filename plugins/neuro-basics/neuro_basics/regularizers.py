"""Weight penalties per replica. Weights arrive as (R, y, x, channels, units); result is (R,)."""

import tensorflow as tf

_ALL = [1, 2, 3, 4]


def l1(w, strength):
    """lambda * sum |w|."""
    return strength * tf.reduce_sum(tf.abs(w), axis=_ALL)


def l2(w, strength):
    """lambda * 1/2 * sum w^2 (NDN3 uses tf.nn.l2_loss)."""
    return strength * 0.5 * tf.reduce_sum(tf.square(w), axis=_ALL)


def d2x(w, strength):
    """lambda * ||L w||^2 with the discrete Laplacian over (y, x), zero outside the image.

    L = I_y (x) D_x + D_y (x) I_x with D = tridiag(1, -2, 1): each pixel contributes
    w[y-1] + w[y+1] + w[x-1] + w[x+1] - 4 w, missing neighbours counted as 0. A dimension of size
    1 contributes no second difference (its D is the 1x1 matrix [-2], as in NDN3's construction).
    """
    padded = tf.pad(w, [[0, 0], [1, 1], [1, 1], [0, 0], [0, 0]])
    centre = padded[:, 1:-1, 1:-1]
    lap = (padded[:, :-2, 1:-1] + padded[:, 2:, 1:-1] - 2.0 * centre
           + padded[:, 1:-1, :-2] + padded[:, 1:-1, 2:] - 2.0 * centre)
    return strength * tf.reduce_sum(tf.square(lap), axis=_ALL)


REGULARIZERS = {"l1": l1, "l2": l2, "d2x": d2x}
