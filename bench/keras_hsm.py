"""The benchmark's baseline: the thesis HSM (Baseline 4) as a plain Keras model, trained with model.fit.

Written the way a Keras user would, independently of the engine: one repetition per model,
``model.fit(batch_size=16, shuffle=True)``. Layers: difference-of-Gaussians (9 units, linear) ->
dense 0.2N softplus -> dense N softplus with L2 0.1 on its weights; NDN3's Poisson loss
(normalised by each neuron's mean response and the batch's row count); Adam 1e-3.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

EPS = float(np.finfo(float).eps)


class DoG(keras.layers.Layer):
    """out_k = sum_xy I(x, y) DoG_k(x, y) + b_k, DoG_k = G(a1, s1, c) - G(a2, s1 + s2, c)."""

    def __init__(self, units: int, height: int, width: int, **kwargs):
        super().__init__(**kwargs)
        self.units, self.height, self.width = units, height, width

    def build(self, input_shape):
        rng = np.random.default_rng(0)
        lows = np.array([EPS, 1, 2, 2, EPS, 1, 2, 2], np.float32)[:, None]
        highs = np.array([10, 25, self.width - 2, self.height - 2] * 2, np.float32)[:, None]
        init = lows + (highs - lows) * rng.random((8, self.units), dtype=np.float32)
        self.kernel = self.add_weight(shape=(8, self.units), initializer=keras.initializers.Constant(init))
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros")
        yy, xx = np.mgrid[0:self.height, 0:self.width].astype(np.float32)
        self.xx, self.yy = xx.reshape(-1, 1), yy.reshape(-1, 1)

    def filters(self):
        a1, s1, ux, uy, a2, s2 = (self.kernel[i] for i in range(6))
        a1, a2 = tf.maximum(a1, EPS), tf.maximum(a2, EPS)
        s1, s2 = tf.clip_by_value(s1, 1.0, 25.0), tf.clip_by_value(s2, 1.0, 25.0)
        ux = tf.clip_by_value(ux, 2.0, self.width - 2.0)
        uy = tf.clip_by_value(uy, 2.0, self.height - 2.0)
        r2 = tf.square(self.xx - ux) + tf.square(self.yy - uy)  # (pixels, units)
        s2 = s1 + s2
        g1 = a1 * tf.exp(-r2 / (2 * s1)) / (2 * math.pi * s1)
        g2 = a2 * tf.exp(-r2 / (2 * s2)) / (2 * math.pi * s2)
        return g1 - g2

    def call(self, x):
        return tf.matmul(x, self.filters()) + self.bias


def poisson_loss(neuron_mean):
    mean = tf.constant(neuron_mean, tf.float32)

    def loss(y, pred):
        ll = y * tf.math.log(pred + 1e-6) - pred
        rows = tf.cast(tf.shape(y)[0], tf.float32)
        return -tf.reduce_sum(tf.reduce_sum(ll, axis=0) / tf.maximum(mean * rows, 1e-8))

    return loss


def build(n_neurons: int, height: int, width: int, neuron_mean: np.ndarray, seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((height * width,))
    x = DoG(9, height, width)(inputs)
    x = keras.layers.Dense(int(0.2 * n_neurons), activation="softplus",
                           kernel_initializer=keras.initializers.RandomNormal(stddev=0.1))(x)
    outputs = keras.layers.Dense(n_neurons, activation="softplus",
                                 kernel_initializer=keras.initializers.RandomNormal(stddev=0.1),
                                 kernel_regularizer=keras.regularizers.L2(0.1 * 0.5))(x)
    model = keras.Model(inputs, outputs)
    # Keras' L2(l) adds l * sum(w^2); NDN3's l2 is l * 0.5 * sum(w^2), hence 0.1 * 0.5 above.
    model.compile(optimizer=keras.optimizers.Adam(1e-3, epsilon=1e-8), loss=poisson_loss(neuron_mean))
    return model
