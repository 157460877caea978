"""Replicated matrix products whose gradients XLA compiles to fast code on a CPU.

The default gradient of ``a @ b`` multiplies by transposed operands, and XLA folds those
transposes into the products. At this engine's small shapes (16-row minibatches, one product per
replica) several such transposed-operand products ran at half the speed of a plain product of a
materialised transpose, which is a copy of a few thousand floats (docs/performance.md). These
custom gradients compute the same values with the transposes kept as copies. Every input is
(replicas, rows, columns); the results equal the default gradients to float rounding.
"""

from __future__ import annotations

import tensorflow as tf

from .xla_hints import backward_scope, materialized


def dense_product(x, w):
    """``x`` (R, B, I) @ ``w`` (R, I, O); dw = copy(x^T) @ dy (about 7% of the HSM's step)."""
    scope = backward_scope()

    @tf.custom_gradient
    def product(x, w):
        def grad(dy):
            with tf.name_scope(scope):
                return tf.matmul(dy, w, transpose_b=True), tf.matmul(materialized(tf.linalg.matrix_transpose(x)), dy)
        return tf.matmul(x, w), grad

    return product(tf.convert_to_tensor(x), tf.convert_to_tensor(w))


def image_product(x, filters):
    """``x`` (R, B, P) by ``filters`` (R, K, P) -> (R, B, K); dfilters = copy(dy^T) @ x (3x faster)."""
    scope = backward_scope()

    @tf.custom_gradient
    def product(x, filters):
        def grad(dy):
            with tf.name_scope(scope):
                return tf.matmul(dy, filters), tf.matmul(materialized(tf.linalg.matrix_transpose(dy)), x)
        return tf.matmul(x, filters, transpose_b=True), grad

    return product(tf.convert_to_tensor(x), tf.convert_to_tensor(filters))


def batched_product(a, b):
    """``a @ b`` over any leading batch axes; gradients as products with copied transposes."""
    scope = backward_scope()

    @tf.custom_gradient
    def product(a, b):
        def grad(d):
            with tf.name_scope(scope):
                return (tf.matmul(d, materialized(tf.linalg.matrix_transpose(b))),
                        tf.matmul(materialized(tf.linalg.matrix_transpose(a)), d))
        return tf.matmul(a, b), grad

    return product(tf.convert_to_tensor(a), tf.convert_to_tensor(b))
