"""The replicated, compiled training loop.

Every repetition of a run trains at once: weights carry a leading replica axis, each replica sees
its own minibatch order (:mod:`.shuffling`), and the steps up to the next summary run inside a
compiled ``tf.function``, in calls of a few seconds each (:mod:`.call_pacing`) so Python is left only
to log and to look for a stop request. The data stay on the device.
On a CPU the replicas are split into groups, one per core, trained from parallel threads
(:mod:`.placement`, :mod:`.replica_group`); each replica computes the same as it would alone.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, make_dataclass
from typing import Any, Callable

import numpy as np
import tensorflow as tf

from msc_neuro_cli.metrics.correlation import mean_correlation, per_neuron_correlation
from msc_neuro_cli.engine import placement, training_schema
from msc_neuro_cli.engine.call_pacing import (FINISHED, INTERRUPTED, MAX_EPOCHS_PER_CALL, CallPace,
                                               TrainingHooks, never, train_steps_until)
from msc_neuro_cli.errors import ManifestError
from msc_neuro_cli.engine.early_stopping import EarlyStopping, EarlyStoppingOptions, check_epochs, holdout_split
from msc_neuro_cli.engine.replica_group import ReplicaGroup, clone_layers
from msc_neuro_cli.engine.shuffling import batch_layout, epoch_orders
from msc_neuro_cli.engine.trainer_state import numbered, prefixed, read_numbered, read_prefixed


def _from_spec(cls, training: dict, **speed_options) -> "TrainingConfig":
    """The config of a spec's ``training`` block: every key of the schema, none dropped
    (a key the schema does not know is refused), defaults for keys the spec predates."""
    unknown = sorted(set(training) - set(training_schema.TRAINING))
    if unknown:
        raise ManifestError(f"training.{unknown[0]}: not a training key of this neuro version "
                            f"(known: {', '.join(training_schema.TRAINING)})")
    values = training_schema.with_defaults(training, training_schema.TRAINING)
    if values["early_stopping"] is not None:
        values["early_stopping"] = training_schema.with_defaults(values["early_stopping"],
                                                                 training_schema.EARLY_STOPPING)
    return cls(**values, **speed_options)


# One field per key of training_schema.TRAINING, its default from there (declared once), then the
# speed-only options (results do not depend on them): replica groups trained concurrently (None:
# one per core on CPU, one on GPU), TensorFlow thread pools, applied only if TF has not started, and
# the seconds of training between stop checks (None: call_pacing.STOP_CHECK_SECONDS).
TrainingConfig = make_dataclass(
    "TrainingConfig",
    [(key, Any, field(default=param.default)) for key, param in training_schema.TRAINING.items()]
    + [(name, Any, field(default=None)) for name in ("replica_groups", "intra_op_threads", "inter_op_threads",
                                                   "stop_check_seconds")],
    namespace={"from_spec": classmethod(_from_spec),
               "__doc__": "The engine's settings (training_schema.TRAINING keys plus speed options); "
                          "build it from a spec with ``TrainingConfig.from_spec``."})
TrainingConfig.__module__ = __name__


@dataclass
class Summary:
    """What the trainer reports at a summary epoch, per replica."""

    epoch: int
    loss: np.ndarray            # (R,) training loss of the last epoch, per batch average
    train_correlation: np.ndarray  # (R, neurons) on the whole training set (NaN where not computed)
    val_correlation: np.ndarray    # (R, neurons) on the validation set


def summary_epochs(epochs: int, every: int) -> list[int]:
    """The thesis pipeline's summary schedule: epoch 0 and every epoch with epoch % every == every - 1."""
    marks = [e for e in range(epochs) if e == 0 or e % every == every - 1]
    if marks[-1] != epochs - 1:
        marks.append(epochs - 1)  # always summarise the final weights
    return marks


class ReplicatedTrainer:
    """Adam on in-memory minibatches (the ``adam`` entry of :mod:`.trainers`)."""

    @classmethod
    def replica_bytes(cls, size, config: TrainingConfig) -> int:
        """Memory one replica adds (:func:`.placement.replica_bytes`); ``size`` a ModelSize."""
        _, padded = batch_layout(size.rows, config.batch_size, config.partial_batch)
        return placement.replica_bytes(size.n_weights, padded, size.in_features, size.widest_layer,
                                       config.batch_size)

    def __init__(self, layers, loss_fn: Callable, config: TrainingConfig, seeds: list[int],
                 train_x: np.ndarray, train_y: np.ndarray, val_x: np.ndarray, val_y: np.ndarray,
                 train_mask: np.ndarray | None = None, val_mask: np.ndarray | None = None,
                 neuron_mean: np.ndarray | None = None, held_out: tuple | None = None,
                 side: dict | None = None):
        """``held_out``: (x, y, mask) of a validation tier kept apart from the training rows, which
        early stopping then monitors instead of a held-out slice of the training rows. ``side``:
        per-trial rows the model's components read (:mod:`.side_inputs`), by tier and variable:
        {"train": {"behavior": (rows, k), ...}, "val": {...}}."""
        placement.configure_threads(config.intra_op_threads, config.inter_op_threads)
        self.layers, self.loss_fn, self.config = layers, loss_fn, config
        self.seeds = list(seeds)
        self.replicas = len(self.seeds)
        if layers and layers[0].replicas != self.replicas:
            raise ValueError(f"{len(self.seeds)} seeds for a model of {layers[0].replicas} replicas")
        if neuron_mean is None:  # the thesis pipeline: mean of each output over every row passed to train
            neuron_mean = np.concatenate([train_y, val_y]).mean(axis=0)
        train_side, self.val_side = dict((side or {}).get("train", {})), dict((side or {}).get("val", {}))
        self.early_stopping: EarlyStopping | None = None
        if config.early_stopping:
            train_x, train_y, train_mask, train_side = self._hold_out(held_out, train_x, train_y, train_mask,
                                                                       train_side)
        self.n_rows = len(train_x)
        self.batches, self.padded_rows = batch_layout(self.n_rows, config.batch_size, config.partial_batch)
        self.val_x, self.val_y, self.val_mask = val_x, val_y, val_mask
        self.train_x_np, self.train_y_np, self.train_mask_np = train_x, train_y, train_mask
        self.data = {
            "x": tf.constant(train_x, tf.float32),
            "y": tf.constant(train_y, tf.float32),
            # No mask: every output of every real row counts; only padding rows are masked out.
            "mask": None if train_mask is None else tf.constant(train_mask, tf.float32),
            "neuron_mean": tf.constant(neuron_mean, tf.float32),
            "side": {name: tf.constant(rows, tf.float32) for name, rows in train_side.items()},
        }
        self.train_side = train_side
        self.variables = [v for layer in layers for v in layer.trainable_variables]
        n_groups = config.replica_groups or placement.default_groups(self.replicas)
        bounds = placement.split_replicas(self.replicas, n_groups)
        self.groups = [
            ReplicaGroup(layers if len(bounds) == 1 else clone_layers(layers, stop - start),
                         start, stop, loss_fn, config, self.data, self.n_rows, self.batches)
            for start, stop in bounds]
        self._pool = ThreadPoolExecutor(len(self.groups)) if len(self.groups) > 1 else None
        self.epoch = 0  # epochs completed
        self.partial_epoch = False  # stopped within an epoch: weights past ``epoch``, no state()
        self._pace = CallPace(config.stop_check_seconds)
        self._push()

    def _hold_out(self, held_out, train_x, train_y, train_mask, train_side):
        """Set up early stopping; the training rows (and side rows) left to train on."""
        options = EarlyStoppingOptions(**self.config.early_stopping)
        self.early_stopping = EarlyStopping(options, self.replicas, self.config.learning_rate)
        if held_out is not None:  # a validation tier of its own: every training row trains
            self.held_out, self.held_out_side = held_out, self.val_side
            return train_x, train_y, train_mask, train_side
        keep, held = holdout_split(len(train_x), options.validation_fraction)
        rows = lambda a, which: None if a is None else a[which]  # noqa: E731
        self.held_out = (train_x[held], train_y[held], rows(train_mask, held))
        self.held_out_side = {name: a[held] for name, a in train_side.items()}
        return (train_x[keep], train_y[keep], rows(train_mask, keep),
                {name: a[keep] for name, a in train_side.items()})

    # ------------------------------------------------------------------ weights across groups
    def _push(self) -> None:
        """Run layers -> groups (a no-op for one group, which trains the run's layers)."""
        if len(self.groups) > 1:
            full = [v.numpy() for v in self._all_variables()]
            for group in self.groups:
                group.set_weights(full)

    def _pull(self) -> None:
        """Groups -> run layers, so exports and checkpoints see the trained weights."""
        if len(self.groups) > 1:
            parts = [group.weights() for group in self.groups]
            for i, var in enumerate(self._all_variables()):
                var.assign(np.concatenate([p[i] for p in parts]))

    def _all_variables(self) -> list:
        """Every weight of the run's layers, trainable or not (batch-norm statistics)."""
        return [v for layer in self.layers for v in layer.weights]

    def _map(self, fn):
        """``fn(group)`` for every group, the groups concurrently."""
        return self._map_indices(lambda k: fn(self.groups[k]))

    # ------------------------------------------------------------------ host part
    def initialise(self) -> None:
        mean_response = self.data["neuron_mean"].numpy()
        for i, layer in enumerate(self.layers):
            layer.initialise([np.random.default_rng([seed, i, 0]) for seed in self.seeds])
            if hasattr(layer, "initialise_from_responses"):  # e.g. a readout's bias from the mean response
                layer.initialise_from_responses(mean_response)
        self._push()

    def _orders(self, first_epoch: int, n: int) -> list:
        """Each group's row orders of epochs [first_epoch, first_epoch + n), padded to
        MAX_EPOCHS_PER_CALL epochs (one shape: the compiled loop never retraces)."""
        orders = np.zeros((MAX_EPOCHS_PER_CALL, self.replicas, self.padded_rows), np.int32)
        orders[:n] = epoch_orders(self.seeds, first_epoch, n, self.n_rows, self.padded_rows)
        return [tf.constant(orders[:, group.start:group.stop]) for group in self.groups]

    def _run(self, first_epoch: int, n: int) -> np.ndarray:
        """Epochs [first_epoch, first_epoch + n) in one call per group, no stop check (``epoch`` is
        left alone); the last epoch's loss (R,)."""
        outs = self._call(self._orders(first_epoch, n), 0, n * self.batches, [None] * len(self.groups))
        return np.concatenate([out[1].numpy() for out in outs])

    def _call(self, orders: list, lo: int, hi: int, sums: list) -> list:
        """Steps [lo, hi) in every group, concurrently; each group's (loss_sum, loss)
        (:meth:`.replica_group.ReplicaGroup._run_chunk`), ``sums`` their running epoch losses."""
        def run_group(k):
            return self.groups[k].chunk(*self.groups[k].chunk_args(orders[k], lo, hi, sums[k]))

        return self._map_indices(run_group)

    _train_until = train_steps_until  # calls of about stop_check_seconds (:mod:`.call_pacing`)

    def _map_indices(self, fn):
        """``fn(k)`` for every group index k, the groups concurrently."""
        if self._pool is None:
            return [fn(0)]
        return list(self._pool.map(fn, range(len(self.groups))))

    @property
    def completed(self) -> bool:
        """Trained to the last epoch, or every replica stopped early."""
        stopped = self.early_stopping is not None and self.early_stopping.all_stopped
        return self.epoch >= self.config.epochs or stopped

    def train(self, on_summary: Callable[[Summary], bool | None] | None = None,
              on_progress: Callable[[int], None] | None = None,
              should_stop: Callable[[], bool] | None = None,
              stop_at_epoch_end: Callable[[], bool] | None = None,
              epoch_end_wanted: Callable[[], bool] | None = None,
              on_epoch_end: Callable[[int], None] | None = None) -> str:
        """Train to ``config.epochs`` (or until early stopping ends every replica). Returns FINISHED,
        or INTERRUPTED when ``on_summary`` returned True or ``should_stop()`` did (nothing restored).
        ``should_stop`` is asked every ``stop_check_seconds`` or so; a stop within an epoch
        finishes it if the rest takes under ``stop_check_seconds``, else abandons it, leaving
        ``partial_epoch`` True: the weights are part of the way through an epoch, ``state()``
        refuses, and a resume starts from the last checkpoint. Between epochs the state is that of
        ``epoch`` epochs. ``stop_at_epoch_end``, ``epoch_end_wanted`` and
        ``on_epoch_end``: see :class:`.call_pacing.TrainingHooks`."""
        if self.partial_epoch:
            raise RuntimeError("this trainer stopped within an epoch: load a checkpoint to go on")
        hooks = TrainingHooks(should_stop or never, stop_at_epoch_end or never, epoch_end_wanted or never,
                              on_epoch_end, on_progress)
        summaries = set(summary_epochs(self.config.epochs, self.config.summary_every))
        checks = set()
        if self.early_stopping is not None:
            checks = set(check_epochs(self.config.epochs, self.early_stopping.options.check_every))
        self._push()  # the run's layers may have been set from outside (initialise, load_state)
        try:
            for mark in sorted(m for m in summaries | checks if m >= self.epoch):
                if self.completed:
                    break
                loss = self._train_until(mark + 1, hooks)
                if loss is None:
                    return INTERRUPTED
                val_correlation = self._check_held_out(mark) if mark in checks else None
                if (mark in summaries or self.completed) and on_summary:
                    with_train = self.config.train_correlation == "every_summary" or self.completed
                    if on_summary(self.summary(mark, loss, with_train, val_correlation)):
                        return INTERRUPTED
        finally:
            self._pull()
        if self.early_stopping is not None and self.completed:
            self._restore_best()
        return FINISHED

    # ------------------------------------------------------------------ early stopping
    def held_out_loss(self) -> np.ndarray:
        """Each replica's data loss (R,) on the held-out rows (no penalty, no dropout)."""
        x, y, mask = self.held_out
        pred = self.predict(x, self.held_out_side)
        tiled = np.broadcast_to(y, pred.shape)
        mask = np.ones_like(pred) if mask is None else np.broadcast_to(mask, pred.shape)
        loss = self.loss_fn(tf.constant(tiled, tf.float32), tf.constant(pred, tf.float32),
                            tf.constant(mask, tf.float32), self.data["neuron_mean"])
        return np.asarray(loss)

    def held_out_neuron_correlation(self) -> np.ndarray:
        """Each replica's per-neuron correlation (R, neurons) on the held-out rows."""
        x, y, mask = self.held_out
        return self._correlations(x, y, mask, self.held_out_side)

    def _correlations(self, x, y, mask, side) -> np.ndarray:
        """Each replica's per-neuron correlation (R, neurons) of its predictions of ``x`` with ``y``.
        Each group scores its own predictions, concurrently: no (R, rows, neurons) array of every
        replica's predictions is built (on a 4472 x 1000 training set at R = 4 that and its copy
        were a peak of the run, docs/performance.md)."""
        mode = self.config.correlation_nan_mode
        return np.concatenate(self._map(lambda group: np.stack(
            [per_neuron_correlation(y, p, mask, mode) for p in group.predict(x, side)])))

    def held_out_correlation(self) -> np.ndarray:
        """Each replica's mean per-neuron correlation (R,) on the held-out rows."""
        return np.array([mean_correlation(c) for c in self.held_out_neuron_correlation()])

    def _check_held_out(self, epoch: int) -> np.ndarray | None:
        """One early-stopping check. Returns the validation set's per-neuron correlations when the
        check computed exactly them (the held-out rows are the validation tier), for the summary
        of the same epoch to reuse instead of predicting that tier again."""
        self._pull()
        weights = [v.numpy() for v in self._all_variables()]
        per_neuron = None
        if self.early_stopping.options.monitor == "correlation":
            per_neuron = self.held_out_neuron_correlation()
            # EarlyStopping minimises: a correlation is monitored through its negative.
            monitored = -np.array([mean_correlation(c) for c in per_neuron])
        else:
            monitored = self.held_out_loss()
        back_to_best = self.early_stopping.check(epoch, monitored, weights)
        self._set_lr_scale(self.early_stopping.lr_scale)
        if back_to_best.any():
            self._assign_all(self.early_stopping.restored(weights, back_to_best))
        held_is_validation = self.held_out[0] is self.val_x and self.held_out[2] is self.val_mask
        return per_neuron if held_is_validation else None

    def _set_lr_scale(self, scale: np.ndarray) -> None:
        for group in self.groups:
            group.optimizer.lr_scale.assign(scale[group.start:group.stop])

    def _restore_best(self) -> None:
        current = [v.numpy() for v in self._all_variables()]
        self._assign_all(self.early_stopping.final_weights(current))

    def _assign_all(self, values: list[np.ndarray]) -> None:
        """Every weight of the run's layers (and so of every group) set to ``values``."""
        for var, value in zip(self._all_variables(), values):
            var.assign(value)
        self._push()

    def predict(self, x: np.ndarray, side: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """Every replica's predictions (R, rows, neurons), from the compiled forward pass; ``side``
        the same trials' behaviour / pupil rows when the model reads them."""
        return np.concatenate(self._map(lambda group: group.predict(x, side)))

    def summary(self, epoch: int, loss: np.ndarray, with_train: bool = True,
                val_correlation: np.ndarray | None = None) -> Summary:
        """Metrics of the current weights. ``with_train=False`` leaves the training set's
        correlations NaN (``training.train_correlation: final``); ``val_correlation``: the
        validation set's, already computed for these weights (by the early-stopping check)."""
        if val_correlation is None:
            val_correlation = self._correlations(self.val_x, self.val_y, self.val_mask, self.val_side)
        if with_train:
            train_corr = self._correlations(self.train_x_np, self.train_y_np, self.train_mask_np, self.train_side)
        else:
            train_corr = np.full((self.replicas, self.train_y_np.shape[1]), np.nan)
        return Summary(epoch, np.asarray(loss), train_corr, val_correlation)

    # ------------------------------------------------------------------ checkpoints
    def state(self) -> dict:
        """Named state (:mod:`.trainer_state`): weights, batch statistics, Adam's moments, step and
        per-replica learning-rate factors, and early stopping's bookkeeping. Refused after a stop
        within an epoch: that state could not be resumed bit for bit."""
        if self.partial_epoch:
            raise RuntimeError(f"no state within an epoch (stopped during epoch {self.epoch})")
        self._pull()
        opt = [group.optimizer.state() for group in self.groups]
        arrays = {**numbered("weights", (v.numpy() for v in self.variables)),
                  **numbered("statistics", (v.numpy() for layer in self.layers for v in layer.non_trainable_weights)),
                  "adam.lr_scale": np.concatenate([o["lr_scale"] for o in opt])}
        for slot in ("m", "v"):
            arrays.update(numbered(f"adam.{slot}", (np.concatenate(parts) for parts in zip(*(o[slot] for o in opt)))))
        if self.early_stopping is not None:
            arrays.update(prefixed("early_stopping", self.early_stopping.state()))
        return {"epoch": self.epoch, "arrays": arrays, "meta": {"adam.step": opt[0]["step"]}}

    def load_state(self, state: dict) -> None:
        arrays = state["arrays"]
        self._load_weights(arrays)
        lr_scale = arrays.get("adam.lr_scale")
        moments = {slot: read_numbered(arrays, f"adam.{slot}") for slot in ("m", "v")}
        for group in self.groups:
            group.optimizer.load_state({
                "m": [m[group.start:group.stop] for m in moments["m"]],
                "v": [v[group.start:group.stop] for v in moments["v"]],
                "step": state["meta"]["adam.step"],
                "lr_scale": None if lr_scale is None else lr_scale[group.start:group.stop]})
        self._load_early_stopping(arrays)
        self.epoch = int(state["epoch"])
        self.partial_epoch = False

    def _load_weights(self, arrays: dict) -> None:
        for var, value in zip(self.variables, read_numbered(arrays, "weights")):
            var.assign(value)
        statistics = [v for layer in self.layers for v in layer.non_trainable_weights]
        for var, value in zip(statistics, read_numbered(arrays, "statistics")):
            var.assign(value)
        self._push()

    def _load_early_stopping(self, arrays: dict) -> None:
        saved = read_prefixed(arrays, "early_stopping")
        if self.early_stopping is not None and saved:
            self.early_stopping.load_state(saved)
