"""The replicated, compiled training loop.

Every repetition of a run trains at once: weights carry a leading replica axis, each replica sees
its own minibatch order (:mod:`.shuffling`), and a whole chunk of epochs (up to the next summary)
runs inside one ``tf.function`` so Python is left only to log. The data stay on the device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import tensorflow as tf

from ..metrics import per_neuron_correlation
from . import model as model_ops
from .optim import ReplicatedAdam
from .shuffling import batch_layout, epoch_orders

MAX_EPOCHS_PER_CALL = 100  # bounds the host->device index upload per compiled call


@dataclass
class TrainingConfig:
    epochs: int
    batch_size: int = 16
    learning_rate: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8
    summary_every: int = 100
    partial_batch: str = "keep"
    loss: str = "poisson"
    xla: bool = True
    correlation_nan_mode: str = "zero-NaNs"


@dataclass
class Summary:
    """What the trainer reports at a summary epoch, per replica."""

    epoch: int
    loss: np.ndarray            # (R,) training loss of the last epoch, per batch average
    train_correlation: np.ndarray  # (R, neurons) on the whole training set
    val_correlation: np.ndarray    # (R, neurons) on the validation set


def summary_epochs(epochs: int, every: int) -> list[int]:
    """The seed's summary schedule: epoch 0 and every epoch with epoch % every == every - 1."""
    marks = [e for e in range(epochs) if e == 0 or e % every == every - 1]
    if marks[-1] != epochs - 1:
        marks.append(epochs - 1)  # always summarise the final weights
    return marks


class ReplicatedTrainer:
    def __init__(self, layers, loss_fn: Callable, config: TrainingConfig, seeds: list[int],
                 train_x: np.ndarray, train_y: np.ndarray, val_x: np.ndarray, val_y: np.ndarray,
                 train_mask: np.ndarray | None = None, val_mask: np.ndarray | None = None,
                 neuron_mean: np.ndarray | None = None):
        self.layers, self.loss_fn, self.config = layers, loss_fn, config
        self.seeds = list(seeds)
        self.replicas = len(self.seeds)
        self.n_rows = len(train_x)
        self.batches, self.padded_rows = batch_layout(self.n_rows, config.batch_size, config.partial_batch)
        self.val_x, self.val_y, self.val_mask = val_x, val_y, val_mask
        self.train_x_np, self.train_y_np, self.train_mask_np = train_x, train_y, train_mask
        self.x = tf.constant(train_x, tf.float32)
        self.y = tf.constant(train_y, tf.float32)
        self.mask = tf.constant(train_mask if train_mask is not None else np.ones_like(train_y), tf.float32)
        if neuron_mean is None:  # the seed: mean of each output over every row passed to train
            neuron_mean = np.concatenate([train_y, val_y]).mean(axis=0)
        self.neuron_mean = tf.constant(neuron_mean, tf.float32)
        self.variables = [v for layer in layers for v in layer.trainable_variables]
        self.optimizer = ReplicatedAdam(self.variables, config.learning_rate, config.beta1,
                                        config.beta2, config.epsilon)
        self.epoch = 0  # epochs completed
        self._chunk = tf.function(self._run_chunk, jit_compile=config.xla, reduce_retracing=True)

    # ------------------------------------------------------------------ compiled part
    def _step(self, idx, valid):
        xb = tf.gather(self.x, idx)                     # (R, B, F)
        yb = tf.gather(self.y, idx)
        mb = tf.gather(self.mask, idx) * valid[None, :, None]
        with tf.GradientTape() as tape:
            pred = model_ops.forward(self.layers, xb, training=True)
            data_loss = self.loss_fn(yb, pred, mb, self.neuron_mean)  # (R,)
            total = data_loss + model_ops.penalty(self.layers)
            objective = tf.reduce_sum(total)  # replicas share no weights: gradients stay separate
        grads = tape.gradient(objective, self.variables)
        self.optimizer.apply(grads)
        for layer in self.layers:
            layer.apply_constraints()
        return total

    def _run_chunk(self, orders, n_epochs):
        bs, nb = self.config.batch_size, self.batches
        epoch_loss = tf.zeros((self.replicas,), tf.float32)
        for i in tf.range(n_epochs * nb):
            e, b = i // nb, i % nb
            idx = tf.slice(orders, [e, 0, b * bs], [1, self.replicas, bs])[0]
            valid = tf.cast(b * bs + tf.range(bs) < self.n_rows, tf.float32)
            loss = self._step(idx, valid)
            epoch_loss = tf.where(b == 0, loss, epoch_loss + loss)
        return epoch_loss / nb

    # ------------------------------------------------------------------ host part
    def initialise(self) -> None:
        for i, layer in enumerate(self.layers):
            layer.initialise([np.random.default_rng([seed, i, 0]) for seed in self.seeds])

    def train(self, on_summary: Callable[[Summary], bool | None] | None = None,
              on_progress: Callable[[int], None] | None = None) -> None:
        """Train to ``config.epochs``; ``on_summary`` returning True stops early (interrupt)."""
        marks = [m for m in summary_epochs(self.config.epochs, self.config.summary_every) if m >= self.epoch]
        for mark in marks:
            while self.epoch <= mark:
                n = min(mark + 1 - self.epoch, MAX_EPOCHS_PER_CALL)
                orders = np.zeros((MAX_EPOCHS_PER_CALL, self.replicas, self.padded_rows), np.int32)
                orders[:n] = epoch_orders(self.seeds, self.epoch, n, self.n_rows, self.padded_rows)
                loss = self._chunk(tf.constant(orders), tf.constant(n, tf.int32)).numpy()
                self.epoch += n
                if on_progress:
                    on_progress(self.epoch)
            if on_summary and on_summary(self.summary(mark, loss)):
                return

    def summary(self, epoch: int, loss: np.ndarray) -> Summary:
        mode = self.config.correlation_nan_mode
        train_pred = model_ops.predict(self.layers, self.train_x_np)
        val_pred = model_ops.predict(self.layers, self.val_x)
        train_corr = np.stack([per_neuron_correlation(self.train_y_np, p, self.train_mask_np, mode)
                               for p in train_pred])
        val_corr = np.stack([per_neuron_correlation(self.val_y, p, self.val_mask, mode) for p in val_pred])
        return Summary(epoch, np.asarray(loss), train_corr, val_corr)

    # ------------------------------------------------------------------ checkpoints
    def state(self) -> dict:
        return {"epoch": self.epoch, "weights": [v.numpy() for v in self.variables],
                "optimizer": self.optimizer.state()}

    def load_state(self, state: dict) -> None:
        for var, value in zip(self.variables, state["weights"]):
            var.assign(value)
        self.optimizer.load_state(state["optimizer"])
        self.epoch = int(state["epoch"])
