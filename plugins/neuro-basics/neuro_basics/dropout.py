"""Dropout on a layer's outputs, as NDN3 applied it, for replicated layers.

NDN3 put ``tf.nn.dropout(keep_prob)`` on a layer's outputs (after the activation) with noise
shape [1, units] (conv: [1, 1, 1, filters]): one mask per unit, or per filter, shared by every
example of the minibatch and every position, scaled by 1 / keep_prob. Here ``dropout`` is the
rate, 1 - keep_prob. ``dropout_mask: row`` draws one mask per example instead.

Dropout acts only while training (``training=True``); evaluation and the logged metrics see the
whole network (the thesis pipeline logged validation metrics with dropout on, a bug).

Masks need no random state: replica r's mask is drawn by a counter-based generator
(``stateless_uniform``) seeded with a hash of the bit patterns of replica r's current weights in
this layer. The weights change at every optimiser step, so the masks do too; each replica's masks
depend only on its own weights, so they differ between replicas, are reproducible, and survive
replica grouping, checkpoints and resumption without any state to carry. (The layer's input is
not hashed: convolutions give results that differ in the last bit between batch shapes, which
would make masks depend on how many replicas train together.)
"""

from __future__ import annotations

import tensorflow as tf

from neuro_basics.params import DROPOUT_PARAMS  # noqa: F401  (re-exported: plugins import it here)

SALT = 0x5EED  # second word of the seed


def bit_hash(tensor):
    """(R, ...) float32 -> (R,) int32: the wrapped sum of each replica's bit patterns (order-free)."""
    bits = tf.bitcast(tf.cast(tensor, tf.float32), tf.int32)
    return tf.reduce_sum(tf.reshape(bits, (tf.shape(bits)[0], -1)), axis=1)


def dropout_masks(seeds, replicas: int, mask_rows, channels: int, rate: float):
    """(R, mask_rows, 1, channels) masks of 0 and 1/keep from (R, 2) int32 seeds."""
    keep = 1.0 - rate
    draws = tf.stack([tf.random.stateless_uniform((mask_rows, 1, channels), seed=seeds[r])
                      for r in range(replicas)])
    return tf.cast(draws < keep, tf.float32) / keep


class DropoutMixin:
    """Adds NDN3 dropout to a ReplicatedLayer: list it first, ``class L(DropoutMixin, ReplicatedLayer)``,
    and include ``DROPOUT_PARAMS`` in ``PARAMS``. The mask covers the last output dim (units or filters).
    """

    def call(self, x, training=False):
        out = super().call(x, training)
        rate = float(self.params.get("dropout") or 0.0)
        if not training or rate <= 0.0:
            return out
        channels = self.output_dims()[2]
        rows = tf.shape(out)[1]
        weights_hash = tf.add_n([bit_hash(v.value) for v in self.trainable_variables])
        seeds = tf.stack([weights_hash, tf.fill([self.replicas], SALT)], axis=1)
        mask_rows = 1 if self.params.get("dropout_mask", "batch") == "batch" else rows
        masks = tf.cast(dropout_masks(seeds, self.replicas, mask_rows, channels, rate), out.dtype)
        grouped = tf.reshape(out, (self.replicas, rows, -1, channels))
        return tf.reshape(grouped * masks, tf.shape(out))
