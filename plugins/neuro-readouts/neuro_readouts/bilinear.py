"""Reading a feature map at one point per neuron by bilinear interpolation (``grid_sample``'s rule).

Points are in the map's normalised coordinates, x (columns) and y (rows) in [-1, 1], with
``align_corners=True`` semantics: -1 is the centre of the first pixel, +1 the centre of the last,

    px = (gx + 1) (W - 1) / 2,    py = (gy + 1) (H - 1) / 2.

The value is the bilinear mix of the four pixels around (py, px); a neighbour outside the map
counts as zero (``grid_sample``'s default ``padding_mode='zeros'``). Only the four neighbours are
gathered, so the cost is batch x neurons x channels, whatever the map's size; the interpolation
weights are piecewise linear in the point, so the point gets a gradient.
"""

from __future__ import annotations

import tensorflow as tf


def _corners(p, size: int):
    """Lower/upper neighbour indices of pixel coordinates ``p`` and their weights."""
    lo = tf.floor(p)
    frac = p - lo
    lo_i = tf.cast(lo, tf.int32)
    return ((lo_i, 1.0 - frac), (lo_i + 1, frac))


def read_points(fmap, gx, gy):
    """``fmap`` (R, B, H, W, C), ``gx``/``gy`` (R, B, N) -> (R, B, N, C), the map at each point."""
    height, width, channels = fmap.shape[2], fmap.shape[3], fmap.shape[4]
    px = (gx + 1.0) * (0.5 * (width - 1))
    py = (gy + 1.0) * (0.5 * (height - 1))
    indices, weights = [], []
    for yi, wy in _corners(py, height):
        for xi, wx in _corners(px, width):
            inside = (xi >= 0) & (xi < width) & (yi >= 0) & (yi < height)
            flat = tf.clip_by_value(yi, 0, height - 1) * width + tf.clip_by_value(xi, 0, width - 1)
            indices.append(flat)
            weights.append(wy * wx * tf.cast(inside, wx.dtype))
    s = tf.shape(fmap)
    pixels = tf.reshape(fmap, [s[0], s[1], height * width, channels])
    idx = tf.stack(indices, axis=-1)                               # (R, B, N, 4)
    n = tf.shape(idx)[2]
    gathered = tf.gather(pixels, tf.reshape(idx, [s[0], s[1], n * 4]), batch_dims=2)
    gathered = tf.reshape(gathered, [s[0], s[1], n, 4, channels])
    w = tf.cast(tf.stack(weights, axis=-1), fmap.dtype)           # (R, B, N, 4)
    return tf.reduce_sum(gathered * w[..., None], axis=3)
