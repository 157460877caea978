"""Per-repetition minibatch order, independent of how many repetitions train together.

Replica ``r`` with seed ``s`` visits the training rows of epoch ``e`` in the order
``default_rng([s, e, 1]).permutation(N)``: the same order whether it trains alone or among 24
others, and the same after a resume from a checkpoint at epoch ``e``.
"""

from __future__ import annotations

import math

import numpy as np


def batch_layout(n_rows: int, batch_size: int, partial_batch: str) -> tuple[int, int]:
    """(batches per epoch, rows per epoch incl. padding).

    ``keep`` (the thesis pipeline's fork, NDN3 a988339): ceil(N / batch) batches, the last one smaller.
    ``drop`` (upstream NDN3): N // batch batches; the remainder of each epoch is not used.
    """
    if partial_batch == "keep":
        batches = math.ceil(n_rows / batch_size)
    elif partial_batch == "drop":
        batches = n_rows // batch_size
    else:
        raise ValueError(f"partial_batch must be 'keep' or 'drop', got {partial_batch!r}")
    if batches < 1:
        raise ValueError(f"batch size {batch_size} leaves no full batch of {n_rows} rows")
    return batches, batches * batch_size


def epoch_orders(seeds: list[int], first_epoch: int, n_epochs: int, n_rows: int,
                 padded_rows: int) -> np.ndarray:
    """Row indices (n_epochs, replicas, padded_rows) int32; padding repeats row 0 and is masked."""
    out = np.zeros((n_epochs, len(seeds), padded_rows), np.int32)
    used = min(n_rows, padded_rows)
    for e in range(n_epochs):
        for r, seed in enumerate(seeds):
            out[e, r, :used] = np.random.default_rng([seed, first_epoch + e, 1]).permutation(n_rows)[:used]
    return out
