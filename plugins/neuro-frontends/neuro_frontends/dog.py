"""NDN3's ``diff_of_gaussians`` layer, replicated.

Each unit k has 8 parameters [a1, s1, ux1, uy1, a2, s2, ux2, uy2] and the filter

    G(x, y; a, s, ux, uy) = a * exp(-((x - ux)^2 + (y - uy)^2) / (2 s)) / (2 pi s)
    DoG_k = G(a1, s1, ux1, uy1) - G(a2, s2', ux2', uy2')

on the integer pixel grid (x = column, y = row). ``s`` acts as a variance, not a standard
deviation (as NDN3). With ``impl_sigma`` s2' = s1 + s2; with ``impl_concentric`` the second
Gaussian shares the first one's centre. Parameters are clipped to their bounds where the filter is
built (a >= alpha_min, s in sigma_bounds, ux in [2, W-2], uy in [2, H-2]), so gradients vanish
outside them, as in NDN3. The Gaussians are separable in x and y, which is how they are built.

Seed bug, not reproduced: NDN3 60c4fa2 set the sigma upper bound from the layer's filter_dims,
which for this layer gives bounds (1, 0) and pins s1 at 1. The default here is the intended
(1, 25) of the earlier fork commits; pass ``sigma_bounds: [1, 0]`` to reproduce the bug.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import keras

from msc_neuro_cli.api.layers import ReplicatedLayer, batched_product, image_product

from .params import DOG_PARAMS

ALPHA_MIN = float(np.finfo(float).eps)


def gaussian_factors(params, height: int, width: int, impl_sigma=True, impl_concentric=True,
                     sigma_bounds=(1.0, 25.0)):
    """The separable factors of every unit's two Gaussians, from clipped parameters (R, 8, K).

    Returns gx (R, 2K, W) and gy (R, 2K, H), centre Gaussians first (units 0..K-1), then the
    surrounds; gy carries each Gaussian's amplitude a / (2 pi s), negative for the surround, so
    that unit k's filter is gy[k] (x) gx[k] + gy[K + k] (x) gx[K + k].

    All 4K exponentials are two elementwise ops on contiguous (R, 2K, n) arrays: XLA on CPU
    emitted the four per-Gaussian (R, K, n) versions about three times slower (docs/performance.md).
    """
    a1, s1, ux1, uy1, a2, s2, ux2, uy2 = tf.unstack(params, axis=1)  # each (R, K)
    lo, hi = sigma_bounds

    def clip(a, s, ux, uy):
        return (tf.maximum(a, ALPHA_MIN), tf.clip_by_value(s, lo, hi),
                tf.clip_by_value(ux, 2.0, width - 2.0), tf.clip_by_value(uy, 2.0, height - 2.0))

    a1, s1, ux1, uy1 = clip(a1, s1, ux1, uy1)
    a2, s2, ux2, uy2 = clip(a2, s2, ux2, uy2)
    if impl_sigma:
        s2 = s1 + s2
    if impl_concentric:
        ux2, uy2 = ux1, uy1
    s = tf.concat([s1, s2], axis=-1)[..., None]                                   # (R, 2K, 1)
    ux = tf.concat([ux1, ux2], axis=-1)[..., None]
    uy = tf.concat([uy1, uy2], axis=-1)[..., None]
    amplitude = tf.concat([a1 / (2.0 * np.pi * s1), -a2 / (2.0 * np.pi * s2)], axis=-1)[..., None]
    xs = tf.range(width, dtype=tf.float32)
    ys = tf.range(height, dtype=tf.float32)
    gx = tf.exp(-tf.square(xs - ux) / (2.0 * s))                                 # (R, 2K, W)
    gy = tf.exp(-tf.square(ys - uy) / (2.0 * s)) * amplitude                     # (R, 2K, H)
    return gx, gy


def dog_filters_by_unit(params, height: int, width: int, impl_sigma=True, impl_concentric=True,
                        sigma_bounds=(1.0, 25.0)):
    """Filters (R, K, height*width) from clipped parameters (R, 8, K).

    Centre - surround = [gy1, -gy2] @ [gx1; gx2] per unit: one batched product of inner size 2,
    which XLA on CPU runs (with its gradient) faster than two broadcast outer products. This
    layout lets the layer's own product run in the fast orientation and needs no large transposes
    (docs/performance.md).
    """
    gx, gy = gaussian_factors(params, height, width, impl_sigma, impl_concentric, sigma_bounds)
    replicas, units = tf.shape(params)[0], tf.shape(params)[2]
    gy = tf.transpose(tf.reshape(gy, (replicas, 2, units, height)), [0, 2, 3, 1])   # (R, K, H, 2)
    gx = tf.transpose(tf.reshape(gx, (replicas, 2, units, width)), [0, 2, 1, 3])    # (R, K, 2, W)
    return tf.reshape(batched_product(gy, gx), (replicas, units, height * width))


def dog_filters(params, height: int, width: int, impl_sigma=True, impl_concentric=True,
                sigma_bounds=(1.0, 25.0), alpha_max=10.0):
    """Filters (R, height*width, K) from clipped parameters (R, 8, K)."""
    del alpha_max
    return tf.transpose(dog_filters_by_unit(params, height, width, impl_sigma, impl_concentric,
                                            sigma_bounds), [0, 2, 1])


def random_dog_parameters(rng, units: int, height: int, width: int, sigma_bounds, alpha_max: float):
    """NDN3's ``random`` initialisation (8, units): uniform within the bounds.

    NDN3 draws alpha, sigma, ux, uy for all units of the first Gaussian, then the second; uy gets
    an extra +2 beyond its bounds (kept: clipping brings it back while training).
    """
    lo, hi = sigma_bounds
    ranges = [(ALPHA_MIN, alpha_max), (lo, hi), (2, width - 2), (2, height - 2)]
    rows = []
    for _ in range(2):
        for i, (low, high) in enumerate(ranges):
            row = low + (high - low) * rng.random(units)
            rows.append(row + 2 if i == 3 else row)
    return np.stack(rows)


@keras.saving.register_keras_serializable(package="neuro")
class DifferenceOfGaussians(ReplicatedLayer):
    PARAMS = DOG_PARAMS

    def _hw(self):
        y, x, c = self.input_dims
        if c != 1:
            raise ValueError(f"{self.name}: diff_of_gaussians needs a one-channel image, got {self.input_dims}")
        return y, x

    def weight_shapes(self):
        return {"kernel": (8, self.params["units"]), "bias": (self.params["units"],)}

    def output_dims(self):
        return (1, 1, self.params["units"])

    def initial_value(self, name, rng):
        units = self.params["units"]
        if name == "bias":
            return self.initializer(self.params["bias_init"])(rng, (units,), "bias")
        if self.params["init"] == "zeros":
            return np.zeros((8, units))
        height, width = self._hw()
        return random_dog_parameters(rng, units, height, width, self.params["sigma_bounds"],
                                     self.params["alpha_max"])

    def filters(self):
        height, width = self._hw()
        return dog_filters(self.weight("kernel"), height, width, self.params["impl_sigma"],
                           self.params["impl_concentric"], tuple(self.params["sigma_bounds"]))

    def forward(self, x, training):
        height, width = self._hw()
        # Filters from the exact float32 parameters: bfloat16 centres would move by up to 1/8 pixel.
        filters = dog_filters_by_unit(self.weight("kernel", exact=True), height, width, self.params["impl_sigma"],
                                      self.params["impl_concentric"], tuple(self.params["sigma_bounds"]))
        return image_product(x, tf.cast(filters, x.dtype)) + self.weight("bias")[:, None, :]

    def regularized_weights(self, regularizer):
        return []  # NDN3: reg_initializer=None, the DoG parameters are never regularised
