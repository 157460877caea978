"""Full-batch L-BFGS for the replicated trainer (``training.optimizer: lbfgs``), for small models.

Each "epoch" is one L-BFGS iteration on the whole training set: the objective is each replica's
data loss (masks as in Adam's path, the given ``neuron_mean``) plus its penalty. Every replica runs
its own L-BFGS, vectorised over the replica axis: its weights flattened to one row of an (R, P)
matrix, its own history of (s, y) pairs, its own step length. Because replicas share no weights,
the gradient of the sum over replicas gives each replica's own gradient, and every per-replica
decision (step length, accepted pair, stop) reads only that replica's numbers: replica r trains as
it would alone.

Line search: backtracking (halving) from step 1 (steepest-descent steps start at 1/|g|) with the
Armijo condition along the projected path: a trial point is x + t d passed through the layers'
constraints (``apply_constraints``), and is accepted when f(trial) <= f(x) + c1 g.(trial - x).
This projected L-BFGS is an approximation (the curvature pairs ignore the bounds), but every
accepted step decreases the objective and respects the constraints. A pair is kept only if
s.y > eps y.y, so the inverse-Hessian estimate stays positive definite. A failed search clears the
replica's history (its next step is steepest descent); one failing from steepest descent, or a
gradient of ~0, stops the replica for good (later iterations leave it as it is, no NaNs).

Early stopping (held-out split, patience, restore-best) works as with Adam: a replica it stops
stops moving; learning-rate decay steps have no meaning here and are refused. Dropout, batch
norm and mixed precision are refused too (the line search needs one deterministic objective).

Checkpoints carry the weights and the (s, y) history (named ``lbfgs.s.i``/``lbfgs.y.i``), so a
resumed run continues the same iterations; replicas that had stopped become active
again and stop at once unless a steepest-descent step still passes the Armijo test.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from msc_neuro_cli import errors
from msc_neuro_cli.engine import model as model_ops
from msc_neuro_cli.engine.call_pacing import train_epochs_until
from msc_neuro_cli.engine.trainer import ReplicatedTrainer
from msc_neuro_cli.engine.trainer_state import numbered, prefixed, read_numbered

MAX_PARAMETERS = 1_000_000  # per replica: history 2 m P floats (84 MB at m = 10) and full-batch steps
BLOCK_ROWS = 1024           # most rows per block of the full-batch objective (bounds activation memory)
ARMIJO_C1 = 1e-4
BACKTRACK = 0.5
MAX_BACKTRACKS = 30         # 0.5**30 ~ 1e-9: below float32 resolution of any useful step
CURVATURE_EPS = 1e-8        # keep (s, y) only if s.y > eps y.y
GRADIENT_TOL = 1e-10        # max |g| at or below this counts as converged


class LbfgsUnsuitableError(errors.ManifestError, ValueError):
    """The model (or a training option) cannot be trained with full-batch L-BFGS."""


def check_model(layers, config) -> int:
    """Parameters per replica; raises LbfgsUnsuitableError naming the reason."""
    per_replica = sum(int(np.prod(v.shape[1:])) for layer in layers for v in layer.trainable_variables)
    if per_replica > MAX_PARAMETERS:
        raise LbfgsUnsuitableError(
            f"training.optimizer lbfgs: the model has {per_replica:,} parameters per replica, more than "
            f"the {MAX_PARAMETERS:,} full-batch L-BFGS supports; use optimizer adam")
    for layer in layers:
        if layer.non_trainable_weights:
            raise LbfgsUnsuitableError(
                f"training.optimizer lbfgs: layer {layer.name} keeps running statistics (batch norm), "
                "which need minibatches; use optimizer adam")
        if float(layer.params.get("dropout") or 0.0) > 0.0:
            raise LbfgsUnsuitableError(
                f"training.optimizer lbfgs: layer {layer.name} uses dropout, which makes the full-batch "
                "objective change between line-search trials; set dropout 0 or use optimizer adam")
    if config.precision != "float32":
        raise LbfgsUnsuitableError(f"training.optimizer lbfgs runs in float32, not precision {config.precision}")
    if (config.early_stopping or {}).get("lr_decay_steps"):
        raise LbfgsUnsuitableError("training.early_stopping.lr_decay_steps must be 0 with optimizer lbfgs "
                                   "(its line search sets the step lengths)")
    return per_replica


def block_rows(n_rows: int) -> int:
    """Rows per block: equal blocks of at most BLOCK_ROWS (1800 rows are 2 x 900, not 1024 + 776)."""
    return -(-n_rows // -(-n_rows // BLOCK_ROWS))


def replica_bytes(n_weights: int, n_rows: int, in_features: int, widest_layer: int, memory: int) -> int:
    """Rough bytes one replica adds (float32): the history (2 m vectors of P), about 8 more
    P-vectors (point, gradient, direction, trial and accepted ones), one block's input and
    activations (kept for the gradient), and a block of summary predictions."""
    vectors = (2 * memory + 8) * n_weights
    block = block_rows(n_rows) * (in_features + 4 * widest_layer)
    return 4 * (vectors + block + 512 * (in_features + 2 * widest_layer))


def _dot(a, b):
    return tf.reduce_sum(a * b, axis=-1)


def _rho(S, Y):
    """1 / s.y for each stored pair, 0 for empty slots (R, m)."""
    sy = _dot(S, Y)
    return tf.where(sy > 0.0, 1.0 / tf.where(sy > 0.0, sy, 1.0), 0.0)


def two_loop(g, S, Y):
    """H g for each replica: g (R, P), S and Y (R, m, P) oldest first, empty slots all zero."""
    m = S.shape[1]
    rho = _rho(S, Y)
    q, alphas = g, []
    for i in reversed(range(m)):
        alpha = rho[:, i] * _dot(S[:, i], q)
        q = q - alpha[:, None] * Y[:, i]
        alphas.append(alpha)
    s_new, y_new = S[:, -1], Y[:, -1]
    yy = _dot(y_new, y_new)
    gamma = tf.where(rho[:, -1] > 0.0, _dot(s_new, y_new) / tf.where(yy > 0.0, yy, 1.0), 1.0)
    r = gamma[:, None] * q
    for i, alpha in zip(range(m), reversed(alphas)):
        beta = rho[:, i] * _dot(Y[:, i], r)
        r = r + (alpha - beta)[:, None] * S[:, i]
    return r


class LbfgsTrainer(ReplicatedTrainer):
    """ReplicatedTrainer's interface, trained by full-batch L-BFGS (one iteration per epoch).

    All replicas form one group (the replica axis is the vectorisation; a CPU's cores work inside
    the full-batch matrix products instead of on separate groups). The objective at the current
    point is cached between epochs and recomputed when ``train`` starts (weights may have been set).
    """

    _train_until = train_epochs_until  # a stop check between epochs

    @classmethod
    def replica_bytes(cls, size, config) -> int:
        """Full batch and a history of 2 m weight vectors (module function ``replica_bytes``)."""
        return replica_bytes(size.n_weights, size.rows, size.in_features, size.widest_layer, config.lbfgs_memory)

    def __init__(self, layers, loss_fn, config, seeds, train_x, train_y, val_x, val_y,
                 train_mask=None, val_mask=None, neuron_mean=None, held_out=None, side=None):
        self.n_parameters = check_model(layers, config)
        if side:
            raise LbfgsUnsuitableError("training.optimizer lbfgs: the model reads behaviour or pupil rows "
                                       f"({', '.join(sorted(side.get('train', {})))}); use optimizer adam")
        config = dataclasses.replace(config, replica_groups=1)
        super().__init__(layers, loss_fn, config, seeds, train_x, train_y, val_x, val_y,
                         train_mask, val_mask, neuron_mean, held_out)
        self._sizes = [int(np.prod(v.shape[1:])) for v in self.variables]
        self._blocks = self._row_blocks()
        R, m, P = self.replicas, config.lbfgs_memory, self.n_parameters
        self.history_s = tf.Variable(tf.zeros((R, m, P)), trainable=False)
        self.history_y = tf.Variable(tf.zeros((R, m, P)), trainable=False)
        self.active = tf.Variable(tf.ones((R,), tf.bool), trainable=False)
        self.f = tf.Variable(tf.zeros((R,)), trainable=False)
        self.g = tf.Variable(tf.zeros((R, P)), trainable=False)
        # Plain graph code: the loops are explicit tf.while_loops (no autograph conversion).
        self._start = tf.function(self._start_fn, jit_compile=config.xla, autograph=False)
        self._iterate = tf.function(self._iteration, jit_compile=config.xla, autograph=False)
        self._stale = True  # f and g are not those of the current weights

    def _row_blocks(self):
        """Training rows as (blocks, rows, ...) constants; padding rows carry mask 0."""
        n, rows = self.n_rows, block_rows(self.n_rows)
        blocks = -(-n // rows)
        mask = self.train_mask_np if self.train_mask_np is not None else np.ones_like(self.train_y_np)

        def padded(a):
            a = np.asarray(a, np.float32)
            a = np.concatenate([a, np.zeros((blocks * rows - n, *a.shape[1:]), np.float32)])
            return tf.constant(a.reshape(blocks, rows, *a.shape[1:]))

        counted = np.asarray(mask).max(axis=1).sum()  # rows the loss counts, as the losses' own count
        return {"x": padded(self.train_x_np), "y": padded(self.train_y_np), "mask": padded(mask),
                "rows": tf.constant(max(float(counted), 1.0), tf.float32), "n": blocks}

    # ------------------------------------------------------------------ flat weights
    def _flat(self):
        return tf.concat([tf.reshape(v, (self.replicas, -1)) for v in self.variables], axis=1)

    def _assign(self, flat) -> None:
        for var, part in zip(self.variables, tf.split(flat, self._sizes, axis=1)):
            var.assign(tf.reshape(part, var.shape))

    # ------------------------------------------------------------------ compiled part
    def _block_loss(self, b):
        """Block ``b``'s data loss (R,), weighted so the blocks add up to the full-batch loss.

        The losses are means over counted rows (sum / rows), so block b counts rows_b / rows.
        """
        blocks, R = self._blocks, self.replicas
        xb, yb, mb = blocks["x"][b], blocks["y"][b], blocks["mask"][b]
        pred = model_ops.forward(self.layers, tf.broadcast_to(xb[None], (R, *xb.shape)), training=True)
        shape = (R, *yb.shape)
        loss = self.loss_fn(tf.broadcast_to(yb[None], shape), pred, tf.broadcast_to(mb[None], shape),
                            self.data["neuron_mean"])
        return loss * (tf.reduce_sum(tf.reduce_max(mb, axis=1)) / blocks["rows"])

    def _gradient(self, tape, total):
        """d total / d each variable; zeros where a variable does not enter (no penalty)."""
        grads = tape.gradient(total, self.variables)
        return [tf.zeros(v.shape) if gr is None else tf.convert_to_tensor(gr)
                for v, gr in zip(self.variables, grads)]

    def _evaluate(self, flat):
        """Project ``flat`` onto the constraints; return (projected point, f (R,), gradient (R, P))."""
        self._assign(flat)
        for layer in self.layers:
            layer.apply_constraints()
        with tf.GradientTape() as tape:
            f = model_ops.penalty(self.layers) + tf.zeros((self.replicas,))
            total = tf.reduce_sum(f)  # replicas share no weights: each gets its own gradient
        grads = self._gradient(tape, total)

        def add_block(b, f, grads):
            with tf.GradientTape() as tape:
                loss = self._block_loss(b)
                total = tf.reduce_sum(loss)
            return b + 1, f + loss, [a + c for a, c in zip(grads, self._gradient(tape, total))]

        n = self._blocks["n"]
        if n == 1:  # no loop in the graph
            _, f, grads = add_block(0, f, grads)
        else:
            _, f, grads = tf.while_loop(lambda b, *_: b < n, add_block, (tf.constant(0), f, grads))
        g = tf.concat([tf.reshape(gr, (self.replicas, -1)) for gr in grads], axis=1)
        return self._flat(), f, g

    def _start_fn(self):
        """Objective and gradient at the current weights (after projecting them)."""
        _, f, g = self._evaluate(self._flat())
        self.f.assign(f)
        self.g.assign(g)
        return f

    def _iteration(self):
        x, f, g = self._flat(), self.f.value(), self.g.value()
        S, Y = self.history_s.value(), self.history_y.value()
        active = self.active.value() & (tf.reduce_max(tf.abs(g), axis=1) > GRADIENT_TOL) & tf.math.is_finite(f)
        has_history = _dot(S[:, -1], Y[:, -1]) > 0.0
        d = -two_loop(g, S, Y)
        gd = _dot(g, d)
        descent = has_history & (gd < 0.0)  # else (no history, or not a descent direction): -g
        d = tf.where(descent[:, None], d, -g)
        gnorm = tf.norm(g, axis=1)
        t = tf.where(descent, 1.0, tf.minimum(1.0, 1.0 / tf.maximum(gnorm, 1e-30)))
        t = tf.where(active, t, 0.0)
        d = tf.where(active[:, None], d, 0.0)

        # Per-replica backtracking: every trial evaluates all replicas at once; a replica's result
        # is frozen when it first passes, so the others' trials do not change it.
        def trial(k, t, done, x_new, f_new, g_new):
            xt, ft, gt = self._evaluate(x + t[:, None] * d)
            # ft <= f too: along a projected path g.(xt - x) may be > 0 (False for NaN)
            armijo = (ft <= f + ARMIJO_C1 * _dot(g, xt - x)) & (ft <= f)
            take = armijo & ~done
            x_new = tf.where(take[:, None], xt, x_new)
            f_new = tf.where(take, ft, f_new)
            g_new = tf.where(take[:, None], gt, g_new)
            done = done | armijo
            return k + 1, tf.where(done, t, t * BACKTRACK), done, x_new, f_new, g_new

        def searching(k, t, done, *_):
            return (k < MAX_BACKTRACKS) & ~tf.reduce_all(done)

        _, _, done, x_new, f_new, g_new = tf.while_loop(
            searching, trial, (tf.constant(0), t, ~active, x, f, g))
        failed = ~done

        s, y = x_new - x, g_new - g
        sy, yy = _dot(s, y), _dot(y, y)
        keep = active & done & (sy > CURVATURE_EPS * yy) & (sy > 0.0)
        S = tf.where(keep[:, None, None], tf.concat([S[:, 1:], s[:, None]], axis=1), S)
        Y = tf.where(keep[:, None, None], tf.concat([Y[:, 1:], y[:, None]], axis=1), Y)
        S = tf.where(failed[:, None, None], 0.0, S)  # retry from steepest descent
        Y = tf.where(failed[:, None, None], 0.0, Y)
        self.active.assign(active & ~(failed & ~has_history))
        self.history_s.assign(S)
        self.history_y.assign(Y)
        self.f.assign(f_new)
        self.g.assign(g_new)
        self._assign(x_new)
        return f_new

    # ------------------------------------------------------------------ host part
    def _run(self, first_epoch: int, n: int, should_stop=None) -> np.ndarray:
        """``n`` L-BFGS iterations; the objective (data loss + penalty) after the last, (R,).
        (``should_stop``: an iteration is one epoch, so there is nothing to stop between.)"""
        if self._stale:  # weights set from outside: objective and gradient there
            self._start()
            self._stale = False
        loss = self.f
        for _ in range(n):
            loss = self._iterate()
        return np.array(loss.numpy())

    def _push(self) -> None:
        """Called when ``train`` starts and after restore-best: the weights may have changed."""
        super()._push()
        self._stale = True

    def reset_history(self) -> None:
        self.history_s.assign(tf.zeros_like(self.history_s))
        self.history_y.assign(tf.zeros_like(self.history_y))
        self.active.assign(tf.ones_like(self.active))
        self._stale = True

    def initialise(self) -> None:
        super().initialise()
        self.reset_history()

    def _split_history(self, history) -> list[np.ndarray]:
        """(R, m, P) -> one (R, m, *weight shape) array per weight."""
        parts = np.split(history.numpy(), np.cumsum(self._sizes)[:-1], axis=2)
        return [p.reshape(v.shape[0], p.shape[1], *v.shape[1:]) for p, v in zip(parts, self.variables)]

    def _join_history(self, parts: list[np.ndarray]) -> np.ndarray:
        return np.concatenate([a.reshape(a.shape[0], a.shape[1], -1) for a in parts], axis=2)

    def _set_lr_scale(self, scale: np.ndarray) -> None:
        """Early stopping's outcome: a replica whose scale is 0 has stopped and stops moving."""
        self.active.assign(self.active.numpy() & (np.asarray(scale) > 0.0))

    def state(self) -> dict:
        """Named state: weights, the (s, y) history per weight and early stopping's bookkeeping."""
        arrays = {**numbered("weights", (v.numpy() for v in self.variables)),
                  **numbered("lbfgs.s", self._split_history(self.history_s)),
                  **numbered("lbfgs.y", self._split_history(self.history_y))}
        if self.early_stopping is not None:
            arrays.update(prefixed("early_stopping", self.early_stopping.state()))
        return {"epoch": self.epoch, "arrays": arrays, "meta": {}}

    def load_state(self, state: dict) -> None:
        arrays = state["arrays"]
        self._load_weights(arrays)
        self.reset_history()
        saved = [read_numbered(arrays, f"lbfgs.{k}") for k in ("s", "y")]
        if all(len(h) == len(self.variables) for h in saved):
            flat = [self._join_history(h) for h in saved]
            if all(h.shape == tuple(self.history_s.shape) for h in flat):  # else another lbfgs_memory: afresh
                self.history_s.assign(flat[0])
                self.history_y.assign(flat[1])
        self._load_early_stopping(arrays)
        if self.early_stopping is not None:
            self._set_lr_scale(self.early_stopping.lr_scale)
        self.epoch = int(state["epoch"])
