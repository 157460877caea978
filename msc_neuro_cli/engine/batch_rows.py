"""Which rows of the current training minibatch are real data.

A kept partial batch is padded to the full batch size (ceil(N / batch) batches of equal shape, so
the compiled loop has one shape); the padding rows are masked out of the loss, but a layer that
computes statistics over the batch (batch normalisation) would count them too. The trainer
publishes the row weights (1 real, 0 padding) while it traces the forward pass, and such a layer
reads them here. Outside a training step there is no padding and ``current()`` is None.

A context variable, not a global: replica groups trace their steps from parallel threads.
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager

_ROWS = contextvars.ContextVar("neuro_valid_rows", default=None)


@contextmanager
def valid_rows(weights):
    """Within the block, ``current()`` returns ``weights`` (batch,): 1.0 real row, 0.0 padding."""
    token = _ROWS.set(weights)
    try:
        yield
    finally:
        _ROWS.reset(token)


def current():
    return _ROWS.get()
