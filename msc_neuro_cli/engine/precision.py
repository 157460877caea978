"""Mixed precision for the replicated engine: float32 weights, a low-precision forward pass.

``training.precision: mixed_bfloat16`` keeps weights, optimiser state, the loss and the
regularisation penalties in float32; only the forward pass computes in bfloat16. Each layer's
input is cast to the low dtype, and while the layer runs, :meth:`ReplicatedLayer.weight` returns
its weights cast at use (:func:`read`), so the gradient still reaches the float32 variables.
``float32`` (the default) takes none of these paths: it computes exactly what it did before.

A component whose forward pass cannot run in the low dtype (it mixes in float32 constants, or
assigns to float32 statistics) is found by tracing it once (:func:`supports`), never by running it,
and computes in float32 inside a mixed model: slower, never wrong.
"""

from __future__ import annotations

import threading
import weakref
from contextlib import contextmanager

import tensorflow as tf

from msc_neuro_cli.errors import ManifestError

#: precision name -> dtype the forward pass computes in (None: plain float32, no casts at all).
PRECISIONS: dict[str, tf.DType | None] = {
    "float32": None,
    "mixed_bfloat16": tf.bfloat16,
    # float16 would also need loss scaling (gradients underflow below 6e-8): not offered.
}

_context = threading.local()  # replica groups trace their loops from parallel threads
_support: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # layer -> {dtype name: bool}


def compute_dtype(precision: str) -> tf.DType | None:
    """The forward pass's dtype for ``precision``; None for float32."""
    try:
        return PRECISIONS[precision]
    except KeyError:
        raise ManifestError(f"training.precision: expected one of {', '.join(PRECISIONS)}, "
                            f"got {precision!r}") from None


def current() -> tf.DType | None:
    """The dtype weights are read in right now (None outside a low-precision forward pass)."""
    return getattr(_context, "dtype", None)


@contextmanager
def computing_in(dtype: tf.DType | None):
    previous = current()
    _context.dtype = dtype
    try:
        yield
    finally:
        _context.dtype = previous


def read(variable):
    """``variable`` itself, or its value cast to the current low dtype (floating weights only)."""
    dtype = current()
    if dtype is None or not tf.as_dtype(variable.dtype).is_floating:
        return variable
    return tf.cast(variable, dtype)


def _call_low(layer, x, training: bool, dtype: tf.DType):
    # layer.call, not layer(...): Keras's __call__ would cast the input back to float32.
    with tf.name_scope(layer.name), computing_in(dtype):
        return layer.call(tf.cast(x, dtype), training=training)


def supports(layer, dtype: tf.DType) -> bool:
    """Whether ``layer`` (training and inference) traces with its input and weights in ``dtype``.

    Traced into a throw-away graph that never runs, so nothing (statistics, random state) changes.
    Cached per layer.
    """
    cached = _support.setdefault(layer, {})
    if dtype.name not in cached:
        spec = tf.TensorSpec((layer.replicas, None, layer.in_features), dtype)
        ok = True
        for training in (True, False):
            probe = tf.function(lambda x, t=training: _call_low(layer, x, t, dtype), autograph=False)
            try:
                probe.get_concrete_function(spec)
            except (TypeError, ValueError, tf.errors.InvalidArgumentError, NotImplementedError):
                ok = False
                break
        cached[dtype.name] = ok
    return cached[dtype.name]


def forward(layers, x, training: bool, dtype: tf.DType):
    """The model's forward pass computing in ``dtype`` where each layer supports it.

    The output stays in the low dtype: callers cast it to float32 before the loss or the metrics.
    """
    for layer in layers:
        if supports(layer, dtype):
            x = _call_low(layer, x, training, dtype)
        else:
            x = layer(tf.cast(x, tf.float32), training=training)
    return x
