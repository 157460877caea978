"""The replicated trainer: each repetition trains as it would alone, whatever R and grouping."""

from __future__ import annotations

import numpy as np
import pytest

from msc_neuro_cli.engine import placement
from msc_neuro_cli.engine.model import ComponentSpec, assemble, replica_weights
from msc_neuro_cli.engine.shuffling import batch_layout, epoch_orders
from msc_neuro_cli.engine.trainer import ReplicatedTrainer, TrainingConfig, summary_epochs
from msc_neuro_cli.metrics.correlation import per_neuron_correlation
from msc_neuro_cli.plugin_system.manager import registries

SIDE, NEURONS, ROWS = 5, 4, 50  # 50 rows at batch 16: 3 full batches and one of 2 rows


def _data(rows=ROWS, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows + 10, SIDE * SIDE)).astype("float32")
    y = rng.poisson(1.5, size=(rows + 10, NEURONS)).astype("float32")
    return x[:rows], y[:rows], x[rows:], y[rows:]


def _hsm_specs():
    return [ComponentSpec("diff_of_gaussians", {"units": 3}, "t[0]"),
            ComponentSpec("normal", {"units": 3, "activation": "softplus"}, "t[1]"),
            ComponentSpec("normal", {"units": "N", "activation": "softplus", "regularizers": {"l2": 0.1}}, "t[2]")]


def _trainer(seeds, epochs=3, specs=None, data=None, **config):
    reg = registries().components
    layers = assemble(specs or _hsm_specs(), (SIDE, SIDE, 1), NEURONS, len(seeds), reg)
    cfg = TrainingConfig(epochs=epochs, summary_every=2, **config)
    trainer = ReplicatedTrainer(layers, reg.losses.get("poisson"), cfg, list(seeds), *(data or _data()))
    trainer.initialise()
    return trainer


def _replica(trainer, r):
    return replica_weights(trainer.layers, r)


def _assert_same(a, b, rtol=1e-5, atol=1e-6):
    assert len(a) == len(b)
    for wa, wb in zip(a, b):
        np.testing.assert_allclose(wa, wb, rtol=rtol, atol=atol)


@pytest.mark.slow
def test_repetition_alone_equals_same_seed_inside_r8_and_groups():
    together = _trainer(range(8), replica_groups=1)
    together.train()
    grouped = _trainer(range(8), replica_groups=3)  # 3 + 3 + 2 replicas in parallel threads
    grouped.train()
    for seed in (0, 5):
        alone = _trainer([seed])
        alone.train()
        _assert_same(_replica(alone, 0), _replica(together, seed))
        _assert_same(_replica(alone, 0), _replica(grouped, seed))
    # Different seeds really train differently (the comparison above is not vacuous).
    assert not np.allclose(_replica(together, 0)[0], _replica(together, 5)[0])


def test_results_do_not_depend_on_r_or_position():
    a = _trainer([3, 11], epochs=2, xla=False)
    a.train()
    b = _trainer([11, 7, 3], epochs=2, xla=False)
    b.train()
    _assert_same(_replica(a, 0), _replica(b, 2))
    _assert_same(_replica(a, 1), _replica(b, 0))


@pytest.mark.parametrize("mode,batches", [("keep", 4), ("drop", 3)])
def test_partial_batch_options_give_documented_batch_counts(mode, batches):
    assert batch_layout(ROWS, 16, mode)[0] == batches  # keep: ceil(50/16); drop: floor(50/16)
    assert batch_layout(1800, 16, "keep") == (113, 1808) and batch_layout(1800, 16, "drop") == (112, 1792)
    trainer = _trainer([0], epochs=2, partial_batch=mode, xla=False)
    trainer.train()
    assert trainer.groups[0].optimizer.step.numpy() == 2 * batches  # one Adam step per batch


def test_unknown_partial_batch_mode_is_rejected():
    with pytest.raises(ValueError, match="partial_batch"):
        batch_layout(ROWS, 16, "pad")


# ---------------------------------------------------------------------------------- numpy reference
def _softplus(z):
    return np.logaddexp(0.0, z)


def _numpy_reference(x, y, w, b, seed, epochs, batch, mode, lr=1e-3, l2=0.1,
                     beta1=0.9, beta2=0.999, eps=1e-8):
    """One dense softplus layer trained with NDN3's Poisson loss, L2 and TF1 Adam, in float64."""
    mean = np.concatenate([y, Y_VAL]).mean(axis=0)
    n = len(x)
    batches = -(-n // batch) if mode == "keep" else n // batch
    params = [w.astype(np.float64), b.astype(np.float64)]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    t = 0
    for epoch in range(epochs):
        order = np.random.default_rng([seed, epoch, 1]).permutation(n)
        for k in range(batches):
            rows = order[k * batch:(k + 1) * batch]
            xb, yb = x[rows].astype(np.float64), y[rows].astype(np.float64)
            z = xb @ params[0] + params[1]
            pred = _softplus(z)
            norm = np.maximum(mean * len(rows), 1e-8)
            dpred = -(yb / (pred + 1e-6) - 1.0) / norm
            dz = dpred / (1.0 + np.exp(-z))
            grads = [xb.T @ dz + l2 * params[0], dz.sum(axis=0)]
            t += 1
            step = lr * np.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
            for i, g in enumerate(grads):
                m[i] = beta1 * m[i] + (1 - beta1) * g
                v[i] = beta2 * v[i] + (1 - beta2) * g * g
                params[i] = params[i] - step * m[i] / (np.sqrt(v[i]) + eps)
    return params


X_TR, Y_TR, X_VAL, Y_VAL = _data()


@pytest.mark.parametrize("mode,xla", [("keep", True), ("drop", False)])
def test_training_matches_independent_numpy_computation(mode, xla):
    specs = [ComponentSpec("normal", {"units": "N", "activation": "softplus", "bias_init": "normal",
                                      "regularizers": {"l2": 0.1}}, "t[0]")]
    trainer = _trainer([4, 9], epochs=3, specs=specs, partial_batch=mode, xla=xla, learning_rate=1e-2)
    start = [_replica(trainer, r) for r in range(2)]
    trainer.train()
    for r, seed in enumerate([4, 9]):
        expected = _numpy_reference(X_TR, Y_TR, *start[r], seed, 3, 16, mode, lr=1e-2)
        _assert_same(_replica(trainer, r), expected, rtol=2e-4, atol=2e-5)


def test_checkpoint_resume_equals_uninterrupted_training():
    straight = _trainer([1, 2, 3], epochs=4, replica_groups=2, xla=False)
    straight.train()
    first = _trainer([1, 2, 3], epochs=2, replica_groups=2, xla=False)
    first.train()
    state = first.state()
    resumed = _trainer([1, 2, 3], epochs=4, replica_groups=1, xla=False)  # grouping may differ on resume
    resumed.load_state(state)
    assert resumed.epoch == 2
    resumed.train()
    for r in range(3):
        _assert_same(_replica(resumed, r), _replica(straight, r))
    assert straight.state()["meta"]["adam.step"] == resumed.state()["meta"]["adam.step"]


def test_summaries_follow_schedule_and_report_correlations_of_predictions():
    trainer = _trainer([0, 1], epochs=5, xla=False)
    seen = []
    trainer.train(on_summary=lambda s: seen.append(s))
    assert [s.epoch for s in seen] == summary_epochs(5, 2) == [0, 1, 3, 4]
    last = seen[-1]
    assert last.loss.shape == (2,) and np.all(np.isfinite(last.loss))
    pred = trainer.predict(X_VAL)
    for r in range(2):
        np.testing.assert_allclose(last.val_correlation[r], per_neuron_correlation(Y_VAL, pred[r]), atol=1e-6)


def test_on_summary_true_stops_training():
    trainer = _trainer([0], epochs=6, xla=False)
    trainer.train(on_summary=lambda s: s.epoch >= 1)
    assert trainer.epoch == 2


def test_epoch_orders_are_per_seed_and_padded():
    orders = epoch_orders([7, 8], 3, 2, 10, 12)
    assert orders.shape == (2, 2, 12)
    np.testing.assert_array_equal(orders[1, 0, :10], np.random.default_rng([7, 4, 1]).permutation(10))
    assert set(orders[0, 1, :10]) == set(range(10))


def test_thread_pools_split_intra_op_threads_between_graph_mode_groups_only(monkeypatch):
    monkeypatch.delenv("NEURO_INTRA_THREADS", raising=False)
    monkeypatch.setattr(placement, "has_gpu", lambda: False)
    monkeypatch.setattr(placement, "cpu_cores", lambda: 2)
    assert placement.thread_pools(4, 2, xla=False) == (1, 2)   # one group per core: no kernel splitting
    assert placement.thread_pools(4, 8, xla=False) == (2, 8)   # 4 groups (one per replica) on 8 threads
    assert placement.thread_pools(1, 2, xla=False) == (2, 2)   # a lone group splits its kernels
    assert placement.thread_pools(1, None, xla=False) == (2, 1)  # this machine's cores
    assert placement.thread_pools(4, None, xla=False) == (1, 2)
    assert placement.thread_pools(4, 2, xla=True) == (2, 2)    # XLA runs the groups' calls on this pool
    assert placement.thread_pools(1, None, xla=True) == (1, 1)
    monkeypatch.setenv("NEURO_INTRA_THREADS", "3")
    assert placement.thread_pools(4, 2, xla=False) == (3, 2)


def test_auto_replicas_and_split():
    assert placement.auto_replicas(25, 10, 1000) == 25
    assert placement.auto_replicas(25, 100, 1200) == 9    # 12 fit: 3 rounds of 9 + 8 + 8
    assert placement.auto_replicas(25, 10**9, 1) == 1
    with pytest.raises(ValueError):
        placement.auto_replicas(0, 1, 1)
    assert placement.split_replicas(25, 2) == [(0, 13), (13, 25)]
    assert placement.split_replicas(2, 5) == [(0, 1), (1, 2)]
    est = placement.replica_bytes(n_weights=2300, padded_rows=1808, in_features=961, widest_layer=103)
    assert 1e6 < est < 1e7  # a few MB per replica for the thesis HSM on region 1: 25 fit easily
    conv = placement.replica_bytes(n_weights=300_000, padded_rows=4480, in_features=36 * 64,
                                   widest_layer=28 * 56 * 64, batch_size=64)
    assert 6e8 < conv < 9e8  # the standard model: about 700 MB a replica measured (docs/performance.md)


def test_no_mask_trains_exactly_like_an_all_ones_mask():
    """Without a mask the trainer gathers none (only padding rows are masked); same weights."""
    x, y, xv, yv = _data()
    reg = registries().components
    trained = []
    for mask in (None, np.ones_like(y)):
        layers = assemble(_hsm_specs(), (SIDE, SIDE, 1), NEURONS, 2, reg)
        trainer = ReplicatedTrainer(layers, reg.losses.get("poisson"), TrainingConfig(epochs=2, summary_every=2),
                                    [0, 1], x, y, xv, yv, train_mask=mask)
        trainer.initialise()
        trainer.train()
        trained.append([_replica(trainer, r) for r in range(2)])
    assert trained[0][0][0].shape == trained[1][0][0].shape
    for r in range(2):
        _assert_same(trained[0][r], trained[1][r], rtol=1e-6, atol=1e-7)


def test_xla_cpu_flags_are_added_unless_the_user_set_them(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_enable_fast_math=false --xla_cpu_prefer_vector_width=256")
    placement.tune_xla_cpu_flags()
    placement.tune_xla_cpu_flags()  # idempotent
    assert placement.os.environ["XLA_FLAGS"].split() == [
        "--xla_cpu_enable_fast_math=false", "--xla_cpu_prefer_vector_width=256",  # the user's choice wins
        "--xla_cpu_multi_thread_eigen=false"]
    monkeypatch.delenv("XLA_FLAGS")
    placement.tune_xla_cpu_flags()
    assert placement.os.environ["XLA_FLAGS"].split() == [
        "--xla_cpu_multi_thread_eigen=false", "--xla_cpu_prefer_vector_width=512"]
