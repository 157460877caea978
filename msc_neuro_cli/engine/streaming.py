"""Training on data that stay on disk: row blocks streamed through fixed-shape device buffers.

The in-memory trainer (:mod:`.trainer`) uploads the whole training set once and gathers every
minibatch from it inside one compiled loop. When the training arrays are lazy
(:mod:`msc_neuro_cli.datasets.lazy_arrays`, e.g. an ``hdf5`` dataset with ``in_memory: false``) that is not
possible, so each epoch instead:

1. splits the training rows into consecutive blocks of ``block_rows`` rows (a multiple of the batch
   size, fixed by the data's shape, never by the memory free at the time, so a resumed run or a
   run on another machine visits the same blocks);
2. visits the blocks in the order ``default_rng([epoch, 2]).permutation(blocks)``, shared by all
   replicas;
3. for each block, reads its rows (the next block is read in a background thread meanwhile),
   copies them into device buffers of shape (block_rows, ...) (``tf.Variable``; the last, shorter
   block is padded and the padding masked), and runs the compiled minibatch loop over the block:
   replica ``r`` with seed ``s`` visits the block's rows in the order
   ``default_rng([s, epoch, block, 1]).permutation(rows_in_block)``.

So a replica's result does not depend on how many replicas train with it, and a run resumes from
a checkpoint at any epoch. The minibatch order differs from the in-memory trainer's (a
permutation of the whole epoch), so the two modes give different, equally valid results. The
loss reported for an epoch is the mean of its batch losses, as in memory.

Summaries stream too: predictions are made block by block and the per-neuron correlations are
accumulated (:class:`msc_neuro_cli.metrics.correlation.CorrelationAccumulator`).
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np
import tensorflow as tf

from msc_neuro_cli.datasets.lazy_arrays import iter_rows
from msc_neuro_cli.metrics.correlation import CorrelationAccumulator
from msc_neuro_cli.engine.placement import PREDICT_ROWS
from msc_neuro_cli.engine.call_pacing import never, train_epochs_until
from msc_neuro_cli.engine.trainer import ReplicatedTrainer, Summary

# Host bytes of one block (inputs, responses, mask). Measured peak memory grows by about seven
# blocks (read, prefetched, converted, device buffer, XLA arguments); 16 MiB blocks already hold
# thousands of rows, so the per-block overhead is negligible.
BLOCK_BYTES = 16 << 20
BLOCK_STREAM = 2        # second seed word of the block-order generator


def default_block_rows(n_rows: int, row_bytes: int, batch_size: int, block_bytes: int | None = None) -> int:
    """Rows per block: about ``block_bytes`` (BLOCK_BYTES), a multiple of ``batch_size``, at most
    the data."""
    block_bytes = block_bytes or BLOCK_BYTES
    rows = max(1, block_bytes // max(1, row_bytes)) // batch_size * batch_size
    return max(batch_size, min(rows, math.ceil(n_rows / batch_size) * batch_size))


def block_order(epoch: int, n_blocks: int) -> np.ndarray:
    """The order in which every replica visits the blocks in ``epoch``."""
    return np.random.default_rng([epoch, BLOCK_STREAM]).permutation(n_blocks)


def within_block_order(seed: int, epoch: int, block: int, rows: int, block_rows: int) -> np.ndarray:
    """Replica ``seed``'s order of the block's rows, padded with row 0 (masked) to ``block_rows``."""
    out = np.zeros(block_rows, np.int32)
    out[:rows] = np.random.default_rng([seed, epoch, block, 1]).permutation(rows)
    return out


def streamed_mean(*arrays) -> np.ndarray:
    """Column means over the rows of all ``arrays`` together (float64 sums, float32 result)."""
    total, count = 0.0, 0
    for array in arrays:
        for _, block in iter_rows(array):
            total = total + block.sum(axis=0, dtype=np.float64)
            count += len(block)
    return (total / count).astype(np.float32)


class StreamingTrainer(ReplicatedTrainer):
    """A :class:`ReplicatedTrainer` whose training data are read block by block (module doc).

    Weights, optimiser, replica groups, checkpoints (``state``/``load_state``), ``train`` and
    ``predict`` are the in-memory trainer's; what changes is where the minibatches come from.
    """

    _train_until = train_epochs_until  # a stop check between blocks

    def __init__(self, layers, loss_fn, config, seeds, train_x, train_y, val_x, val_y,
                 train_mask=None, val_mask=None, neuron_mean=None, block_rows: int | None = None):
        if getattr(config, "early_stopping", None):
            raise ValueError("early stopping is not available when training streams from disk "
                             "(hdf5 dataset with in_memory: false)")
        if getattr(config, "optimizer", "adam") != "adam":
            raise ValueError(f"optimizer {config.optimizer!r} is not available when training streams "
                             "from disk: use adam")
        bs = config.batch_size
        n_rows, features, neurons = len(train_x), int(train_x.shape[1]), int(train_y.shape[1])
        row_bytes = 4 * (features + 2 * neurons)
        block_rows = block_rows or default_block_rows(n_rows, row_bytes, bs)
        if block_rows % bs or block_rows < bs:
            raise ValueError(f"block_rows {block_rows} must be a positive multiple of the batch size {bs}")
        if neuron_mean is None:  # the thesis pipeline: mean of each output over every row passed to train
            neuron_mean = streamed_mean(train_y, val_y)
        # The in-memory trainer is built on one block's worth of placeholder rows: its groups,
        # optimisers and weights are what streaming needs; its data become device buffers below.
        super().__init__(layers, loss_fn, config, seeds,
                         np.zeros((block_rows, features), np.float32), np.zeros((block_rows, neurons), np.float32),
                         val_x, val_y, np.zeros((block_rows, neurons), np.float32), val_mask, neuron_mean)
        for key in ("x", "y", "mask"):
            self.data[key] = tf.Variable(tf.zeros_like(self.data[key]), trainable=False, name=f"block_{key}")
        self.block_rows = block_rows
        self.n_rows = n_rows
        self.n_blocks = math.ceil(n_rows / block_rows)
        self.train_x_np, self.train_y_np, self.train_mask_np = train_x, train_y, train_mask
        self._block_fns = [self._compile_block_loop(group) for group in self.groups]
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="block-reader")
        self.blocks_read = 0

    # ------------------------------------------------------------------ compiled part
    def _compile_block_loop(self, group):
        """One group's loop over the minibatches of the block in the device buffers."""
        data, bs, replicas = self.data, self.config.batch_size, group.replicas

        def run_block(order, n_batches, n_valid):
            x, y, mask = data["x"], data["y"], data["mask"]
            total = tf.zeros((replicas,), tf.float32)
            i = tf.constant(0)
            while i < n_batches:
                idx = tf.slice(order, [0, i * bs], [replicas, bs])  # (R, B)
                valid = tf.cast(i * bs + tf.range(bs) < n_valid, mask.dtype)[None, :, None]
                with tf.name_scope("minibatch"):
                    xb, yb = tf.gather(x, idx), tf.gather(y, idx)
                    mb = tf.gather(mask, idx) * valid
                total += tf.cast(group._step(xb, yb, mb, valid[0, :, 0]), tf.float32)
                i += 1
            return total

        return tf.function(run_block, jit_compile=self.config.xla)

    # ------------------------------------------------------------------ host part
    def _block_batches(self, rows: int) -> int:
        bs = self.config.batch_size
        return math.ceil(rows / bs) if self.config.partial_batch == "keep" else rows // bs

    def _read_block(self, block: int):
        """Rows of ``block`` as float32 arrays padded to the buffers' shape, and the row count."""
        lo = block * self.block_rows
        hi = min(lo + self.block_rows, self.n_rows)
        rows, pad = hi - lo, self.block_rows - (hi - lo)
        x = np.asarray(self.train_x_np[lo:hi], np.float32)
        y = np.asarray(self.train_y_np[lo:hi], np.float32)
        m = (np.ones_like(y) if self.train_mask_np is None
             else np.asarray(self.train_mask_np[lo:hi], np.float32))
        if pad:
            x, y, m = (np.concatenate([a, np.zeros((pad, a.shape[1]), np.float32)]) for a in (x, y, m))
        self.blocks_read += 1
        return x, y, m, rows

    def _epoch(self, epoch: int, should_stop: Callable[[], bool] = never) -> np.ndarray | None:
        """Train one epoch over every block; the mean batch loss per replica (R,), or None when
        ``should_stop()`` said so between two blocks (the epoch is abandoned part of the way)."""
        order = [int(k) for k in block_order(epoch, self.n_blocks)]
        total, batches = np.zeros(self.replicas), 0
        pending = self._reader.submit(self._read_block, order[0])
        for i, block in enumerate(order):
            x, y, m, rows = pending.result()
            if i > 0 and should_stop():
                return None
            if i + 1 < len(order):
                pending = self._reader.submit(self._read_block, order[i + 1])
            n_batches = self._block_batches(rows)
            if n_batches == 0:
                continue
            for key, value in (("x", x), ("y", y), ("mask", m)):
                self.data[key].assign(value)
            del x, y, m
            n_t, rows_t = tf.constant(n_batches, tf.int32), tf.constant(rows, tf.int32)

            def run_group(pair, block=block, rows=rows, n_t=n_t, rows_t=rows_t):
                group, fn = pair
                orders = np.stack([within_block_order(s, epoch, block, rows, self.block_rows)
                                   for s in self.seeds[group.start:group.stop]])
                return fn(tf.constant(orders), n_t, rows_t).numpy()

            if self._pool is None:
                parts = [run_group((self.groups[0], self._block_fns[0]))]
            else:
                parts = list(self._pool.map(run_group, zip(self.groups, self._block_fns)))
            total += np.concatenate(parts)
            batches += n_batches
        return (total / max(batches, 1)).astype(np.float32)

    def _run(self, first_epoch: int, n: int, should_stop: Callable[[], bool] = never) -> np.ndarray | None:
        """Epochs [first_epoch, first_epoch + n); the last one's loss (R,), or None when
        ``should_stop()`` abandoned an epoch (asked between blocks)."""
        loss = np.zeros(self.replicas, np.float32)
        for epoch in range(first_epoch, first_epoch + n):
            loss = self._epoch(epoch, should_stop)
            if loss is None:
                return None
        return loss

    # ------------------------------------------------------------------ summaries
    def streamed_correlation(self, x, y, mask=None) -> np.ndarray:
        """(R, neurons) correlation of every replica's predictions with ``y``, block by block."""
        accumulators = [CorrelationAccumulator(int(y.shape[1])) for _ in range(self.replicas)]
        rows = max(PREDICT_ROWS, self.block_rows // PREDICT_ROWS * PREDICT_ROWS)
        for lo, xb in iter_rows(x, rows):
            hi = lo + len(xb)
            pred = self.predict(np.asarray(xb, np.float32))
            yb = np.asarray(y[lo:hi])
            mb = None if mask is None else np.asarray(mask[lo:hi])
            for acc, p in zip(accumulators, pred):
                acc.add(yb, p, mb)
        mode = self.config.correlation_nan_mode
        return np.stack([acc.result(mode) for acc in accumulators])

    def summary(self, epoch: int, loss: np.ndarray, with_train: bool = True,
                val_correlation: np.ndarray | None = None) -> Summary:
        """As the in-memory trainer's, every correlation streamed block by block."""
        if val_correlation is None:
            val_correlation = self.streamed_correlation(self.val_x, self.val_y, self.val_mask)
        if with_train:
            train_corr = self.streamed_correlation(self.train_x_np, self.train_y_np, self.train_mask_np)
        else:
            train_corr = np.full((self.replicas, int(self.train_y_np.shape[1])), np.nan)
        return Summary(epoch, np.asarray(loss), train_corr, val_correlation)

    def close(self) -> None:
        self._reader.shutdown(wait=True)
