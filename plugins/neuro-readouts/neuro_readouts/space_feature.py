"""Readouts whose weights factor into a spatial and a feature kernel per neuron.

The input is a feature map (y, x, F) flattened in (y, x, F) order, S = y * x positions. Neuron n
has a spatial kernel s_n (S) and a feature kernel f_n (F); its weights are the outer product
w_n[p, k] = s_n[p] f_n[k], i.e. w_n = vec(s_n (x) f_n) in the input's order, and
y_n = f(sum_{p,k} x[p, k] w_n[p, k] + b_n).

- ``sep`` (NDN3 SepLayer, normalize_weights 0): weights [k_t (F x N); k_s (S x N)]; f_n = k_t,n /
  ||k_t,n|| (tf.nn.l2_normalize, epsilon 1e-12), s_n = k_s,n.
- ``factorised`` (Klindt et al. 2017): s_n = |m_n|, f_n = |f_n|, positive, not normalised;
  ``mask_init_scale: positions`` starts m_n at its initialiser's values / S.

Regularisers (NDN3 SepRegularization routing): d2x, max_space, norm2_space see the spatial kernels
as (y, x, 1, N); max_filt, norm2_filt the (normalised) feature kernels as (1, 1, F, N); l1, l2,
norm2 see both, stacked [features; space] as NDN3's concatenation. NDN3 rejects ``max`` here.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from msc_neuro_cli.api.layers import ReplicatedLayer
from neuro_basics.dropout import DropoutMixin

from .params import FACTORISED_PARAMS, FEATURE_REGS, READOUT_PARAMS, SEPARABLE_PARAMS, SPACE_REGS


class SpaceFeatureReadout(DropoutMixin, ReplicatedLayer):
    """Base: subclasses give ``space_kernel()`` (R, S, N) and ``feature_kernel()`` (R, F, N)."""

    PARAMS = READOUT_PARAMS

    @property
    def positions(self) -> int:
        return self.input_dims[0] * self.input_dims[1]

    @property
    def features(self) -> int:
        return self.input_dims[2]

    def output_dims(self):
        return (1, 1, self.params["units"])

    def space_kernel(self):
        raise NotImplementedError

    def feature_kernel(self):
        raise NotImplementedError

    def full_kernel(self):
        """(R, S * F, N): w_n = vec(s_n (x) f_n), position-major as the flattened input."""
        outer = tf.einsum("rsn,rfn->rsfn", self.space_kernel(), self.feature_kernel())
        return tf.reshape(outer, (self.replicas, self.positions * self.features, self.params["units"]))

    def forward(self, x, training):
        return tf.matmul(x, self.full_kernel()) + self.weight("bias")[:, None, :]

    def regularized_weights(self, regularizer):
        y, x, f = self.input_dims
        n = self.params["units"]
        space = tf.reshape(self.space_kernel(), (self.replicas, y, x, 1, n))
        feature = tf.reshape(self.feature_kernel(), (self.replicas, 1, 1, f, n))
        if regularizer in SPACE_REGS:
            return [space]
        if regularizer in FEATURE_REGS:
            return [feature]
        stacked = tf.concat([self.feature_kernel(), self.space_kernel()], axis=1)
        return [tf.reshape(stacked, (self.replicas, 1, 1, f + y * x, n))]

    def bias_value(self, rng):
        return self.initializer(self.params["bias_init"])(rng, (self.params["units"],), "bias")


@keras.saving.register_keras_serializable(package="neuro")
class Separable(SpaceFeatureReadout):
    PARAMS = SEPARABLE_PARAMS

    def weight_shapes(self):
        n = self.params["units"]
        return {"features": (self.features, n), "space": (self.positions, n), "bias": (n,)}

    def initial_value(self, name, rng):
        if name == "bias":
            return self.bias_value(rng)
        return self.initializer(self.params["init"])(rng, self.weight_shapes()[name], "weights")

    def feature_kernel(self):
        return tf.nn.l2_normalize(self.weight("features"), axis=1, epsilon=1e-12)

    def space_kernel(self):
        return self.weight("space")


@keras.saving.register_keras_serializable(package="neuro")
class Factorised(SpaceFeatureReadout):
    PARAMS = FACTORISED_PARAMS

    def weight_shapes(self):
        n = self.params["units"]
        return {"mask": (self.positions, n), "features": (self.features, n), "bias": (n,)}

    def initial_value(self, name, rng):
        if name == "bias":
            return self.bias_value(rng)
        value = self.initializer(self.params["init"])(rng, self.weight_shapes()[name], "weights")
        if name == "mask" and self.params["mask_init_scale"] == "positions":
            # The readout sums S * F positive products: on a wide map the untrained model predicts
            # hundreds of times the responses' scale, and early stopping ends it before it recovers.
            value = value / self.positions
        return value

    def space_kernel(self):
        return tf.abs(self.weight("mask"))

    def feature_kernel(self):
        return tf.abs(self.weight("features"))
