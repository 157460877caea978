"""A Gaussian readout: each neuron reads the feature map around a learned point.

Neuron n has a position (mu_y, mu_x) in pixel coordinates of the (y, x, F) feature map, a width
sigma_n (pixels) and feature weights f_n (F). It pools the map with a normalised isotropic
Gaussian centred on its position,

    g_n[i, j] = exp(-((i - mu_y)^2 + (j - mu_x)^2) / (2 sigma_n^2)) / Z_n,   Z_n = sum_{i,j} exp(...)
    y_n = f(sum_{i,j,k} x[i, j, k] g_n[i, j] f_n[k] + b_n),

a separable readout whose spatial kernel has 3 parameters. It is deterministic (no sampling of
positions while training, unlike Lurz et al. 2021); as sigma shrinks it reads a single pixel and
in between it interpolates smoothly, so positions get gradients. After every optimiser step the
position is clipped to the map and sigma to [min_width, max(y, x)].

Initialisation: positions uniform within the central ``init_position_range`` fraction of the map,
sigma = ``init_width`` x max(y, x), features by ``init``. Regularisers act on the features only.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from .params import GAUSSIAN_READOUT_PARAMS
from .space_feature import SpaceFeatureReadout


@keras.saving.register_keras_serializable(package="neuro")
class GaussianReadout(SpaceFeatureReadout):
    PARAMS = GAUSSIAN_READOUT_PARAMS

    def weight_shapes(self):
        n = self.params["units"]
        return {"position": (2, n), "width": (n,), "features": (self.features, n), "bias": (n,)}

    def _max_width(self) -> float:
        return float(max(self.input_dims[0], self.input_dims[1]))

    def initial_value(self, name, rng):
        n = self.params["units"]
        if name == "bias":
            return self.bias_value(rng)
        if name == "features":
            return self.initializer(self.params["init"])(rng, (self.features, n), "weights")
        if name == "width":
            width = self.params["init_width"] * self._max_width()
            return np.full(n, max(width, self.params["min_width"]))
        half = self.params["init_position_range"] / 2.0
        sizes = np.array(self.input_dims[:2], float)[:, None] - 1.0
        return sizes * (0.5 + rng.uniform(-half, half, size=(2, n)))

    def space_kernel(self):
        height, width = self.input_dims[:2]
        mu = self.weight("position")                       # (R, 2, N)
        two_var = 2.0 * tf.square(self.weight("width"))[:, None, :]  # (R, 1, N)
        ys = tf.range(height, dtype=tf.float32)[None, :, None]
        xs = tf.range(width, dtype=tf.float32)[None, :, None]
        gy = tf.exp(-tf.square(ys - mu[:, 0:1, :]) / two_var)  # (R, H, N)
        gx = tf.exp(-tf.square(xs - mu[:, 1:2, :]) / two_var)  # (R, W, N)
        gy = gy / tf.reduce_sum(gy, axis=1, keepdims=True)     # separable, so Z_n = Z_y Z_x
        gx = gx / tf.reduce_sum(gx, axis=1, keepdims=True)
        grid = gy[:, :, None, :] * gx[:, None, :, :]
        return tf.reshape(grid, (self.replicas, height * width, self.params["units"]))

    def feature_kernel(self):
        return self.weight("features")

    def regularized_weights(self, regularizer):
        f, n = self.features, self.params["units"]
        return [tf.reshape(self.feature_kernel(), (self.replicas, 1, 1, f, n))]

    def constraints(self):
        height, width = self.input_dims[:2]
        upper = tf.constant([[height - 1.0], [width - 1.0]], tf.float32)
        low, high = self.params["min_width"], self._max_width()
        return {"position": lambda v: tf.clip_by_value(v, 0.0, upper),
                "width": lambda v: tf.clip_by_value(v, low, high)}
