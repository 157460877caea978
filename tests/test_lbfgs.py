"""Full-batch L-BFGS (``training.optimizer: lbfgs``): optimum, replica independence, descent, limits."""

from __future__ import annotations


import numpy as np
import pytest

from msc_neuro_cli.engine import lbfgs
from msc_neuro_cli.engine.lbfgs import MAX_PARAMETERS, LbfgsTrainer, LbfgsUnsuitableError
from msc_neuro_cli.engine.model import ComponentSpec, assemble, replica_weights
from msc_neuro_cli.engine.trainer import TrainingConfig
from msc_neuro_cli.errors import NeuroError
from msc_neuro_cli.plugin_system.manager import registries

SIDE, NEURONS, ROWS = 5, 4, 60


def _trainer(seeds, specs, data, input_dims=(SIDE, SIDE, 1), loss="poisson", **config):
    reg = registries().components
    neurons = data[1].shape[1]
    layers = assemble(specs, input_dims, neurons, len(seeds), reg)
    config = {"epochs": 5, "summary_every": 100, "xla": False, "lbfgs_memory": 5, **config}
    trainer = LbfgsTrainer(layers, reg.losses.get(loss), TrainingConfig(loss=loss, **config),
                           list(seeds), *data)
    trainer.initialise()
    return trainer


def _linear_data(rows=200, features=25, neurons=NEURONS, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows + 20, features)).astype("float32")
    y = x @ rng.normal(size=(features, neurons)) + rng.normal(size=neurons) \
        + 0.5 * rng.normal(size=(rows + 20, neurons))
    y = y.astype("float32")
    return x[:rows], y[:rows], x[rows:], y[rows:]


def _poisson_data(rows=ROWS, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows + 10, SIDE * SIDE)).astype("float32")
    rates = np.log1p(np.exp(x @ rng.normal(size=(SIDE * SIDE, NEURONS)) / SIDE))
    y = rng.poisson(rates).astype("float32")
    return x[:rows], y[:rows], x[rows:], y[rows:]


def _small_specs():
    """DoG (with its clipping constraints) and a dense softplus readout: quick to trace."""
    return [ComponentSpec("diff_of_gaussians", {"units": 2}, "t[0]"),
            ComponentSpec("normal", {"units": "N", "activation": "softplus", "regularizers": {"l2": 0.1}}, "t[1]")]


def _hsm_specs():
    return [ComponentSpec("diff_of_gaussians", {"units": 3}, "t[0]"),
            ComponentSpec("normal", {"units": 3, "activation": "softplus"}, "t[1]"),
            ComponentSpec("normal", {"units": "N", "activation": "softplus", "regularizers": {"l2": 0.1}}, "t[2]")]


LINEAR = [ComponentSpec("normal", {"units": NEURONS, "bias_init": "normal"}, "t[0]")]


def test_reaches_closed_form_least_squares_optimum():
    """A linear dense layer with the Gaussian loss (sum of squares / rows) is least squares."""
    data = _linear_data()
    trainer = _trainer([0, 1], LINEAR, data, input_dims=(1, 1, 25), loss="gaussian", epochs=30,
                       lbfgs_memory=10)
    trainer.train()
    x, y = data[0].astype(np.float64), data[1].astype(np.float64)
    design = np.hstack([x, np.ones((len(x), 1))])
    solution = np.linalg.lstsq(design, y, rcond=None)[0]
    for r in range(2):
        kernel, bias = replica_weights(trainer.layers, r)
        np.testing.assert_allclose(kernel, solution[:-1], atol=2e-4)
        np.testing.assert_allclose(bias, solution[-1], atol=2e-4)
    optimum = np.mean(np.sum((design @ solution - y) ** 2, axis=1))
    np.testing.assert_allclose(trainer.f.numpy(), optimum, rtol=1e-5)  # the loss it reports


@pytest.mark.parametrize("block_rows", [1024, 16])  # one block; four of 13 rows (2 padding)
def test_full_batch_objective_and_gradient_match_numpy_with_masks(block_rows, monkeypatch):
    """Gaussian loss of a linear layer with a two-region mask, against numpy, in one or more blocks."""
    monkeypatch.setattr(lbfgs, "BLOCK_ROWS", block_rows)
    x, y, xv, yv = _linear_data(rows=50)
    mask = np.zeros_like(y)
    mask[:25, :2] = 1.0   # region A's images count for neurons 0-1 only
    mask[25:, 2:] = 1.0   # region B's for neurons 2-3
    reg = registries().components
    layers = assemble(LINEAR, (1, 1, 25), NEURONS, 2, reg)
    config = TrainingConfig(epochs=1, loss="gaussian", xla=False, lbfgs_memory=3)
    trainer = LbfgsTrainer(layers, reg.losses.get("gaussian"), config, [0, 1], x, y, xv, yv, train_mask=mask)
    trainer.initialise()
    assert trainer._blocks["n"] == (1 if block_rows > 50 else 4)
    trainer._run(0, 0)
    for r in range(2):
        kernel, bias = (w.astype(np.float64) for w in replica_weights(trainer.layers, r))
        residual = (y - x @ kernel - bias) * mask
        f = np.sum(residual ** 2) / 50
        grad = np.concatenate([(-2 * x.T @ residual / 50).ravel(), -2 * residual.sum(axis=0) / 50])
        np.testing.assert_allclose(trainer.f.numpy()[r], f, rtol=1e-5)
        np.testing.assert_allclose(trainer.g.numpy()[r], grad, rtol=1e-4, atol=1e-5)


def test_zero_gradient_stops_the_replica_without_nans():
    """Zero weights, zero targets: the gradient is exactly 0; later iterations are no-ops."""
    x, _, xv, _ = _linear_data(rows=40)
    zeros = (x, np.zeros((40, NEURONS), np.float32), xv, np.zeros((20, NEURONS), np.float32))
    specs = [ComponentSpec("normal", {"units": NEURONS, "init": "zeros"}, "t[0]")]
    trainer = _trainer([0, 1], specs, zeros, input_dims=(1, 1, 25), loss="gaussian", epochs=4)
    trainer.train()
    assert not trainer.active.numpy().any()
    for w in replica_weights(trainer.layers, 1):
        assert np.all(w == 0.0)
    assert np.all(trainer.f.numpy() == 0.0)


def test_results_do_not_depend_on_r_or_position():
    data = _poisson_data()
    a = _trainer([3, 11], _small_specs(), data, epochs=6)
    a.train()
    b = _trainer([11, 7, 3], _small_specs(), data, epochs=6)
    b.train()
    for ra, rb in ((0, 2), (1, 0)):
        for wa, wb in zip(replica_weights(a.layers, ra), replica_weights(b.layers, rb)):
            np.testing.assert_allclose(wa, wb, rtol=1e-4, atol=1e-5)
    start = _trainer([3], _small_specs(), data)  # training moved the weights (the check is not vacuous)
    assert not np.allclose(replica_weights(start.layers, 0)[-2], replica_weights(a.layers, 0)[-2])


def test_poisson_hsm_loss_never_increases_and_stays_finite():
    data = _poisson_data()
    trainer = _trainer([0, 1, 2], _small_specs(), data, epochs=15, summary_every=1)
    trainer._run(0, 0)  # the objective at the initial (projected) weights
    initial = trainer.f.numpy().copy()
    losses = []
    trainer.train(on_summary=lambda s: losses.append(s.loss))
    losses = np.array([initial, *losses])  # (16, R)
    assert np.all(np.isfinite(losses))
    assert np.all(np.diff(losses, axis=0) <= 1e-6 * np.abs(losses[:-1]))
    assert np.all(losses[-1] < losses[0] - 0.05)  # from ~4.8 towards an optimum near 4.5
    for w in replica_weights(trainer.layers, 2):
        assert np.all(np.isfinite(w))


def test_on_summary_true_stops_and_a_worker_checkpoint_resumes_the_same_iterations(tmp_path):
    from msc_neuro_cli.runs.training_session import resume_group, save_group_checkpoint

    data = _poisson_data()
    straight = _trainer([1, 2], _small_specs(), data, epochs=6)
    straight.train()
    first = _trainer([1, 2], _small_specs(), data, epochs=6, summary_every=3)
    first.train(on_summary=lambda s: s.epoch == 2)  # stop after epoch 2 (3 iterations)
    assert first.epoch == 3
    names = sorted(first.state()["arrays"])
    assert not [n for n in names if n.startswith("adam.")]  # its own state, no fake Adam moments
    history = [first.state()["arrays"][f"lbfgs.s.{i}"] for i in range(len(first.variables))]
    assert [h.shape[:2] for h in history] == [(2, 5)] * len(first.variables)
    checkpoint = tmp_path / "checkpoint.npz"
    save_group_checkpoint(first, checkpoint, [0, 1], {0: [], 1: []})  # the worker's file, as on SIGTERM
    resumed = _trainer([1, 2], _small_specs(), data, epochs=6)
    assert resume_group(resumed, checkpoint, [0, 1]) == {0: [], 1: []}
    assert resumed.epoch == 3 and np.any(resumed.history_s.numpy() != 0.0)
    resumed.train()
    assert resumed.epoch == 6
    for r in range(2):
        for wa, wb in zip(replica_weights(resumed.layers, r), replica_weights(straight.layers, r)):
            np.testing.assert_allclose(wa, wb, rtol=1e-4, atol=1e-5)


def test_too_large_and_stochastic_models_are_rejected_clearly():
    n = 600
    rows = (np.zeros((4, 2000), np.float32), np.zeros((4, n), np.float32),
            np.zeros((2, 2000), np.float32), np.zeros((2, n), np.float32))
    big = [ComponentSpec("normal", {"units": n}, "t[0]")]
    assert 2000 * n + n > MAX_PARAMETERS
    with pytest.raises(LbfgsUnsuitableError, match="1,200,600 parameters per replica") as info:
        _trainer([0], big, rows, input_dims=(1, 1, 2000), loss="gaussian")
    assert isinstance(info.value, NeuroError) and isinstance(info.value, ValueError)
    dropout = [ComponentSpec("normal", {"units": NEURONS, "dropout": 0.2}, "t[0]")]
    with pytest.raises(LbfgsUnsuitableError, match="dropout"):
        _trainer([0], dropout, _linear_data(rows=8), input_dims=(1, 1, 25))
    with pytest.raises(LbfgsUnsuitableError, match="lr_decay_steps"):
        _trainer([0], LINEAR, _linear_data(rows=8), input_dims=(1, 1, 25), early_stopping={"lr_decay_steps": 1})


def test_early_stopping_stops_converged_replicas_and_restores_their_best():
    """Once least squares has converged the held-out loss stops improving: every replica stops."""
    options = {"validation_fraction": 0.2, "patience": 2, "check_every": 2}
    trainer = _trainer([0, 1], LINEAR, _linear_data(), input_dims=(1, 1, 25), loss="gaussian",
                       epochs=200, lbfgs_memory=10, early_stopping=options)
    trainer.train()
    early = trainer.early_stopping
    assert early.all_stopped and trainer.epoch < 60
    assert not trainer.active.numpy().any()
    np.testing.assert_allclose(trainer.held_out_loss(), early.best_loss, rtol=1e-6)  # best restored


# ------------------------------------------------------------------ through the worker
@pytest.mark.slow
def test_manifest_optimizer_lbfgs_trains_through_the_worker(tmp_path, tiny_data):
    from msc_neuro_cli.spec.manifest import load_manifest
    from msc_neuro_cli.spec.plan import plan_experiment
    from msc_neuro_cli.store.run_store import RunStore
    from msc_neuro_cli.testing import TINY_MANIFEST
    from msc_neuro_cli.datasets.loading import load_dataset
    from msc_neuro_cli.runs.worker import run_worker

    manifest = tmp_path / "experiments.yaml"
    manifest.write_text(TINY_MANIFEST.format(data=tiny_data).replace(
        "summary_every: 3}", "summary_every: 3, optimizer: lbfgs, lbfgs_memory: 4, xla: false}"))
    regs = registries()
    plan = plan_experiment(load_manifest(manifest).get("tiny"), regs)[0]
    assert plan.spec["training"]["optimizer"] == "lbfgs"
    store = RunStore(tmp_path / "training_data")
    store.write_spec(plan.run_id, plan.spec)
    assert run_worker(store.root, str(plan.run_id)) == 0
    record = store.read_record(plan.run_id)
    assert [c["epoch"] for c in record["repetitions"][0]["curve"]] == [0, 2, 5]

    # The same repetitions trained here by LbfgsTrainer give the record's numbers.
    data = load_dataset(plan.spec["dataset"])
    specs = [ComponentSpec(c["component"], c["params"], c["where"]) for c in plan.spec["model"]]
    layers = assemble(specs, data.input_dims, data.n_neurons, len(plan.seeds), regs.components)
    config = TrainingConfig(epochs=6, summary_every=3, optimizer="lbfgs", lbfgs_memory=4, xla=False)
    trainer = LbfgsTrainer(layers, regs.components.losses.get("poisson"), config, plan.seeds,
                           data.train_x, data.train_y, data.val_x, data.val_y)
    trainer.initialise()
    trainer.train()
    final = trainer.summary(5, trainer.f.numpy())
    losses = [[c["loss"] for c in rep["curve"]] for rep in record["repetitions"]]
    for j, rep in enumerate(record["repetitions"]):
        np.testing.assert_allclose(rep["val_correlation_per_neuron"], final.val_correlation[j], atol=1e-4)
        assert losses[j] == sorted(losses[j], reverse=True)  # full-batch descent: never increases
