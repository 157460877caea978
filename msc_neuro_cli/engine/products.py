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

from msc_neuro_cli.engine.xla_hints import backward_scope, materialized


def _transposed_copy(t):
    return materialized(tf.linalg.matrix_transpose(t))


def _with_gradient(forward, gradient, a, b):
    """``forward(a, b)`` whose gradient is ``gradient(a, b, d)``, traced in the layer's backward scope."""
    scope = backward_scope()

    @tf.custom_gradient
    def product(a, b):
        def grad(d):
            with tf.name_scope(scope):
                return gradient(a, b, d)
        return forward(a, b), grad

    return product(tf.convert_to_tensor(a), tf.convert_to_tensor(b))


def dense_product(x, w):
    """``x`` (R, B, I) @ ``w`` (R, I, O); dw = copy(x^T) @ dy (about 7% of the HSM's step)."""
    return _with_gradient(
        tf.matmul,
        lambda x, w, dy: (tf.matmul(dy, w, transpose_b=True), tf.matmul(_transposed_copy(x), dy)),
        x, w)


def image_product(x, filters):
    """``x`` (R, B, P) by ``filters`` (R, K, P) -> (R, B, K); dfilters = copy(dy^T) @ x (3x faster)."""
    return _with_gradient(
        lambda x, f: tf.matmul(x, f, transpose_b=True),
        lambda x, f, dy: (tf.matmul(dy, f), tf.matmul(_transposed_copy(dy), x)),
        x, filters)


def batched_product(a, b):
    """``a @ b`` over any leading batch axes; gradients as products with copied transposes."""
    return _with_gradient(
        tf.matmul,
        lambda a, b, d: (tf.matmul(d, _transposed_copy(b)), tf.matmul(_transposed_copy(a), d)),
        a, b)
