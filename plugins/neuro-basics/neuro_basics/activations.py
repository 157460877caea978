"""Pointwise output nonlinearities (NDN3 names: lin is the identity)."""

import tensorflow as tf

ACTIVATIONS = {
    "lin": tf.identity,
    "relu": tf.nn.relu,
    "softplus": tf.nn.softplus,
    "exp": tf.exp,
    "sigmoid": tf.sigmoid,
}
