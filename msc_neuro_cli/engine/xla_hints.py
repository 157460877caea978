"""Hints for XLA that layers may give while the engine traces a step it compiles with XLA.

XLA folds a transpose into the matrix product that consumes it; on a CPU some of the resulting
transposed-operand products run at half the speed of a plain product of a materialised copy
(docs/performance.md). :func:`materialized` keeps such a transpose as its own small buffer.

It needs XLA's optimisation barrier, which exists only under XLA: the trainer says when it traces
an XLA-compiled step (:func:`compiling_with_xla`); elsewhere (``training.xla: false``, exported
models) the hint does nothing. A context variable: replica groups trace from parallel threads.
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager

_XLA = contextvars.ContextVar("neuro_compiling_with_xla", default=False)


@contextmanager
def compiling_with_xla(enabled: bool):
    """Within the block, layers may use XLA-only operations (when ``enabled``)."""
    token = _XLA.set(bool(enabled))
    try:
        yield
    finally:
        _XLA.reset(token)


def materialized(tensor):
    """``tensor`` unchanged in value; under XLA, kept as its own buffer (not folded into its user)."""
    if not _XLA.get():
        return tensor
    from tensorflow.compiler.tf2xla.python import xla  # TensorFlow's own XLA op wrappers

    (kept,) = xla.optimization_barrier(tensor)  # takes and returns a list of tensors
    return kept


def backward_scope() -> str:
    """An absolute name scope for a custom gradient's ops: the forward op's scope plus ``backward/``.

    A custom gradient runs outside the layer's name scope; this keeps its ops attributed to the
    layer's backward pass in profiles (bench/xla_profile.py). Call it where the forward op is built.
    """
    import tensorflow as tf

    current = tf.get_current_name_scope()
    return f"{current}/backward/" if current else "backward/"
