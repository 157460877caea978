"""Early stopping on held-out rows, per replica (off by default, as in the thesis pipeline).

The held-out rows are a fixed slice of the training set (the same rows for every replica), or a
dataset's validation tier when it keeps one apart from the training rows. Every ``check_every``
epochs each replica's monitored value on them (its data loss, or with ``monitor: correlation`` its
mean per-neuron correlation) is compared with its best so far. After ``patience`` checks without
an improvement of at least ``min_delta`` the replica's learning rate is multiplied by
``lr_decay_factor`` (up to ``lr_decay_steps`` times and not below ``min_lr``, patience restarting
each time); when no decay step is left the replica stops: its learning rate becomes 0 while the
other replicas go on, and training ends when every replica has stopped. With ``restore_best``
each replica ends with the weights of its best check; with ``restore_on_decay`` it also goes back to
them at every decay step (neuralpredictors' scheme: the lower learning rate starts from the best
weights, the optimiser's moments are kept).

Each replica's decisions depend only on its own monitored value, so results do not depend on how
many repetitions train together.
"""

from __future__ import annotations

from dataclasses import field, make_dataclass
from typing import Any

import numpy as np

from msc_neuro_cli.engine.training_schema import EARLY_STOPPING

HOLDOUT_SEED = 20161  # fixed: the split must not depend on the repetitions' seeds


def holdout_split(n_rows: int, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(rows kept for training, rows held out), both sorted; at least one row in each."""
    held = int(round(n_rows * fraction))
    if held < 1 or held >= n_rows:
        raise ValueError(f"early_stopping.validation_fraction {fraction} of {n_rows} training rows "
                         f"leaves {held} held-out rows; need at least 1 and fewer than {n_rows}")
    order = np.random.default_rng(HOLDOUT_SEED).permutation(n_rows)
    return np.sort(order[held:]), np.sort(order[:held])


def check_epochs(epochs: int, every: int) -> list[int]:
    """Epochs (0-based, inclusive) after which the held-out loss is checked; always the last."""
    marks = list(range(every - 1, epochs, every))
    if not marks or marks[-1] != epochs - 1:
        marks.append(epochs - 1)
    return marks


# The ``training.early_stopping`` keys, with their defaults from :mod:`.training_schema`.
EarlyStoppingOptions = make_dataclass(
    "EarlyStoppingOptions", [(key, Any, field(default=param.default)) for key, param in EARLY_STOPPING.items()])
EarlyStoppingOptions.__module__ = __name__


class EarlyStopping:
    """Per-replica bookkeeping; the trainer supplies losses and weights, and applies the outcome."""

    def __init__(self, options: EarlyStoppingOptions, replicas: int, learning_rate: float = 1.0):
        self.options = options
        self.learning_rate = learning_rate  # min_lr is compared with learning_rate * lr_scale
        self.best_loss = np.full(replicas, np.inf)
        self.best_epoch = np.full(replicas, -1, np.int64)
        self.wait = np.zeros(replicas, np.int64)
        self.decays = np.zeros(replicas, np.int64)
        self.lr_scale = np.ones(replicas, np.float32)
        self.stopped_epoch = np.full(replicas, -1, np.int64)  # -1: still training
        self.best_weights: list[np.ndarray] | None = None

    @property
    def active(self) -> np.ndarray:
        return self.stopped_epoch < 0

    @property
    def all_stopped(self) -> bool:
        return not self.active.any()

    def check(self, epoch: int, held_loss: np.ndarray, weights: list[np.ndarray]) -> np.ndarray:
        """Record a check after ``epoch``; ``weights`` are every weight (R, ...) right now.

        Returns the replicas (R,) bool that must go back to their best weights now
        (``restore_on_decay``); the trainer applies them with :meth:`restored`."""
        opt = self.options
        held_loss = np.asarray(held_loss, np.float64)
        improved = self.active & np.isfinite(held_loss) & (held_loss < self.best_loss - opt.min_delta)
        if self.best_weights is None:
            self.best_weights = [np.array(w, copy=True) for w in weights]
        for best, now in zip(self.best_weights, weights):
            best[improved] = now[improved]
        self.best_loss = np.where(improved, held_loss, self.best_loss)
        self.best_epoch = np.where(improved, epoch, self.best_epoch)
        self.wait = np.where(improved, 0, self.wait + self.active)
        exhausted = self.active & (self.wait >= opt.patience)
        decay = exhausted & (self.decays < opt.lr_decay_steps)
        if opt.min_lr > 0:  # a decay below min_lr stops the repetition instead
            decay &= self.learning_rate * self.lr_scale * opt.lr_decay_factor >= opt.min_lr
        self.decays = self.decays + decay
        self.wait = np.where(decay, 0, self.wait)
        self.lr_scale = np.where(decay, self.lr_scale * opt.lr_decay_factor, self.lr_scale).astype(np.float32)
        stop = exhausted & ~decay
        self.stopped_epoch = np.where(stop, epoch, self.stopped_epoch)
        self.lr_scale = np.where(self.active, self.lr_scale, 0.0).astype(np.float32)
        return decay & (self.best_epoch >= 0) if opt.restore_on_decay else np.zeros_like(decay)

    def restored(self, weights: list[np.ndarray], replicas: np.ndarray) -> list[np.ndarray]:
        """``weights`` with the rows of ``replicas`` replaced by their best check's weights."""
        out = []
        for best, now in zip(self.best_weights, weights):
            chosen = np.array(now, copy=True)
            chosen[replicas] = best[replicas]
            out.append(chosen)
        return out

    def final_weights(self, weights: list[np.ndarray]) -> list[np.ndarray]:
        """The weights each replica ends with: its best check's (restore_best) or the current ones."""
        if not self.options.restore_best or self.best_weights is None:
            return weights
        return self.restored(weights, self.best_epoch >= 0)

    def report(self, replica: int, epochs_run: int) -> dict:
        stopped = int(self.stopped_epoch[replica])
        best = float(self.best_loss[replica])
        monitored = ({"best_held_out_correlation": -best} if self.options.monitor == "correlation"
                     else {"best_held_out_loss": best})
        return {"best_epoch": int(self.best_epoch[replica]), **monitored,
                "stopped_epoch": stopped if stopped >= 0 else None,
                "epochs_trained": stopped + 1 if stopped >= 0 else epochs_run,
                "lr_decays": int(self.decays[replica]),
                "restored_best": bool(self.options.restore_best and self.best_epoch[replica] >= 0)}

    # ------------------------------------------------------------------ checkpoints
    def state(self) -> dict[str, np.ndarray]:
        arrays = {"best_loss": self.best_loss, "best_epoch": self.best_epoch, "wait": self.wait,
                  "decays": self.decays, "lr_scale": self.lr_scale, "stopped_epoch": self.stopped_epoch}
        for i, w in enumerate(self.best_weights or []):
            arrays[f"best_w{i}"] = w
        return arrays

    def load_state(self, arrays: dict[str, np.ndarray]) -> None:
        for name in ("best_loss", "best_epoch", "wait", "decays", "lr_scale", "stopped_epoch"):
            setattr(self, name, np.array(arrays[name]))
        weights = sorted((k for k in arrays if k.startswith("best_w")), key=lambda k: int(k[6:]))
        self.best_weights = [np.array(arrays[k]) for k in weights] or None
