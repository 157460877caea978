"""One group of replicas and its compiled training loop.

A run's R replicas may be split into groups that train concurrently (one per core on a CPU); each
group owns layers of its own (clones of the run's layers with fewer replicas), an optimiser, and a
compiled function that runs any range of steps of up to many epochs per call (the trainer sizes
the calls so it can look for a stop request every few seconds). Replicas never interact, so how
they are grouped does not change what any of them computes.

Layouts and loop structure were chosen by measurement (docs/performance.md).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import tensorflow as tf

from msc_neuro_cli.engine import batch_rows, side_inputs, xla_hints
from msc_neuro_cli.engine import model as model_ops
from msc_neuro_cli.engine.optim import ReplicatedAdam
from msc_neuro_cli.engine.placement import prediction_rows


def clone_layers(layers, replicas: int):
    """Fresh layers like ``layers`` with ``replicas`` replicas (weights to be copied in)."""
    clones = []
    for layer in layers:
        clone = layer.rebuilt(replicas)
        clone.build((replicas, None, layer.in_features))
        clones.append(clone)
    return clones


class ReplicaGroup:
    """Replicas [start, stop) of a run: their layers, optimiser and compiled loops."""

    def __init__(self, layers, start: int, stop: int, loss_fn: Callable, config, data: dict,
                 n_rows: int, batches: int):
        self.layers, self.start, self.stop = layers, start, stop
        self.replicas = stop - start
        self.loss_fn, self.config, self.data = loss_fn, config, data
        self.n_rows, self.batches = n_rows, batches
        self.variables = [v for layer in layers for v in layer.trainable_variables]
        self.optimizer = ReplicatedAdam(self.variables, config.learning_rate, config.beta1,
                                        config.beta2, config.epsilon)
        self.chunk = tf.function(self._run_chunk, jit_compile=config.xla)
        self.predict_rows = tf.function(self._predict_rows, jit_compile=config.xla)
        self.predict_block = prediction_rows(self.replicas, layers[0].in_features,
                                             max(layer.out_features for layer in layers))

    # ------------------------------------------------------------------ weights
    def all_variables(self) -> list:
        """Trainable first, then non-trainable (batch-norm statistics), layer by layer."""
        return [v for layer in self.layers for v in layer.weights]

    def set_weights(self, full: list[np.ndarray]) -> None:
        """Take this group's slice of the run's (R, ...) weights."""
        for var, value in zip(self.all_variables(), full):
            var.assign(value[self.start:self.stop])

    def weights(self) -> list[np.ndarray]:
        return [v.numpy() for v in self.all_variables()]

    # ------------------------------------------------------------------ compiled part
    def _step(self, xb, yb, mb, valid=None):
        """One optimiser step; ``valid`` (batch,) marks real rows (not padding) for batch statistics."""
        # Name scopes let a profile attribute time (bench/xla_profile.py).
        with xla_hints.compiling_with_xla(self.config.xla):  # also while the gradients are traced
            with tf.GradientTape() as tape:
                with batch_rows.valid_rows(valid):
                    pred = self._forward(xb, training=True)
                with tf.name_scope("loss"):
                    data_loss = self.loss_fn(yb, pred, mb, self.data["neuron_mean"])  # (R,)
                    total = data_loss + model_ops.penalty(self.layers)
                    objective = tf.reduce_sum(total)  # replicas share no weights: gradients stay separate
            grads = tape.gradient(objective, self.variables)
        with tf.name_scope("optimizer"):
            self.optimizer.apply(grads)
            for layer in self.layers:
                layer.apply_constraints()
        return total

    def chunk_args(self, orders, first: int, last: int, loss_sum=None) -> tuple:
        """The arguments of :attr:`chunk` for steps [first, last) of ``orders``, every one a tensor
        (so no call retraces); ``loss_sum`` (replicas,) the running epoch loss a previous call
        returned (zeros when the range starts an epoch)."""
        if loss_sum is None:
            loss_sum = tf.zeros((self.replicas,), tf.float32)
        return orders, tf.constant(first, tf.int32), tf.constant(last, tf.int32), loss_sum

    def _run_chunk(self, orders, first, last, loss_sum):
        """Steps [first, last) of the flattened (epoch, batch) sequence of ``orders``
        (max_epochs, replicas, padded_rows); step i is batch i % batches of epoch i // batches.
        ``loss_sum`` carries the running sum of the current epoch's batch losses in and out, so a
        range split over several calls computes exactly what one call does (the same steps, in the
        same order, with the same arithmetic). Returns (loss_sum, loss_sum / batches): the second
        is the epoch's loss when ``last`` ends an epoch.

        One flat ``while`` over all steps: XLA on CPU ran nested loops (epochs, then batches) about
        100 times slower, and a Python-style ``for i in tf.range(n)`` makes ``n`` a compile-time
        constant under XLA (a recompile for every chunk length). Each step gathers its 16 rows.
        """
        # Node names unique to this group: groups run their (otherwise identical) loops at once,
        # and a temporary variable TensorFlow makes for a gradient sum inside a loop is named after
        # its node; two groups at the same step collided (AlreadyExistsError ".../AddN_16/tmp_var").
        with tf.name_scope(f"replicas_{self.start}_{self.stop}"):
            return self._steps(orders, first, last, loss_sum)

    def _steps(self, orders, first, last, loss_sum):
        """The loop of :meth:`_run_chunk`."""
        bs, nb, n_rows = self.config.batch_size, self.batches, self.n_rows
        x, y, mask = self.data["x"], self.data["y"], self.data["mask"]
        epoch_loss = loss_sum
        i = first
        while i < last:
            e, b = i // nb, i % nb
            idx = tf.slice(orders, [e, 0, b * bs], [1, self.replicas, bs])[0]   # (R, B)
            # Rows past the data (padding of a kept partial batch) are masked out of the loss.
            valid = tf.cast(b * bs + tf.range(bs) < n_rows, tf.float32)[None, :, None]
            with tf.name_scope("minibatch"):
                xb, yb = tf.gather(x, idx), tf.gather(y, idx)
                mb = tf.broadcast_to(valid, tf.shape(yb)) if mask is None else tf.gather(mask, idx) * valid
                # Behaviour / pupil rows of the same trials, for components that read them (none: no work).
                side = {name: tf.gather(rows, idx) for name, rows in self.data.get("side", {}).items()}
            with side_inputs.published(side):
                # No padding in this layout: batch statistics need no row weights (faster kernels).
                loss = self._step(xb, yb, mb, valid[0, :, 0] if nb * bs > n_rows else None)
            epoch_loss = tf.where(b == 0, loss, epoch_loss + loss)
            i += 1
        return epoch_loss, epoch_loss / nb

    def _forward(self, xb, training: bool):
        """The model's predictions, float32 whatever precision computed them (the loss and the
        metrics are always float32; see :mod:`.precision`)."""
        precision = getattr(self.config, "precision", "float32")
        pred = model_ops.forward(self.layers, xb, training=training, precision=precision)
        self.forward_dtype = pred.dtype  # recorded while tracing: what the compiled loop computes in
        return pred if precision == "float32" else tf.cast(pred, tf.float32)

    def _predict_rows(self, xb, side):
        xb = tf.broadcast_to(xb[None], (self.replicas, tf.shape(xb)[0], tf.shape(xb)[1]))
        with side_inputs.published(side):
            return self._forward(xb, training=False)

    def predict(self, x: np.ndarray, side: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """(replicas, rows, outputs); rows in fixed-size blocks so the function compiles once.
        ``side``: behaviour / pupil rows of the same trials (name -> (rows, d)), if the model reads them."""
        size = self.predict_block

        def padded(a, lo):
            block = np.asarray(a[lo:lo + size], np.float32)
            pad = size - len(block)
            return np.concatenate([block, np.zeros((pad, *block.shape[1:]), np.float32)]) if pad else block

        outs = []
        for lo in range(0, len(x), size):
            rows = min(size, len(x) - lo)
            blocks = {name: tf.constant(padded(a, lo)) for name, a in (side or {}).items()}
            out = self.predict_rows(tf.constant(padded(x, lo)), blocks).numpy()
            outs.append(out[:, :rows])
        return np.concatenate(outs, axis=1)
