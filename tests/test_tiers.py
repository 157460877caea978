"""Datasets with train / validation / test tiers: early stopping watches the validation tier only,
and the test tier is scored once at the end, with the restored best weights."""

from __future__ import annotations

import numpy as np
import pytest

from msc_neuro_cli.datasets.contract import Dataset, validate
from msc_neuro_cli.errors import DatasetError
from msc_neuro_cli.runs import records, training_session
from msc_neuro_cli.store.run_store import RunId, RunStore

SIDE, NEURONS = 5, 4
TRAINING = {"epochs": 30, "batch_size": 8, "learning_rate": 3e-2, "summary_every": 10, "xla": False,
            "early_stopping": {"patience": 2, "check_every": 2, "lr_decay_steps": 1, "monitor": "correlation"}}


def _tiered(seed=0, train=120, val=40, test_images=12, repeats=4) -> Dataset:
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(SIDE * SIDE, NEURONS)) * 0.4

    def rows(n):
        x = rng.normal(size=(n, SIDE * SIDE)).astype(np.float32)
        return x, rng.poisson(np.log1p(np.exp(x @ w))).astype(np.float32)

    (tx, ty), (vx, vy) = rows(train), rows(val)
    images = rng.normal(size=(test_images, SIDE * SIDE)).astype(np.float32)
    ids = np.repeat(np.arange(test_images) + 100, repeats)
    test_x = images[ids - 100]
    test_y = rng.poisson(np.log1p(np.exp(test_x @ w))).astype(np.float32)
    return Dataset(tx, ty, vx, vy, (SIDE, SIDE, 1), test_x=test_x, test_y=test_y, test_image_ids=ids)


def _spec():
    return {"seeds": [0, 1], "name": "lnp", "training": TRAINING,
            "model": [{"component": "normal", "params": {"units": "N", "activation": "softplus"}, "where": "t"}]}


def _train(data):
    session = training_session.build(_spec(), data, [0, 1])
    session.trainer.train()
    return session


def test_early_stopping_reads_the_validation_tier_and_trains_on_every_training_row():
    data = _tiered()
    session = _train(data)
    held_x, held_y, _ = session.trainer.held_out
    assert held_x is data.val_x and held_y is data.val_y
    assert session.trainer.n_rows == len(data.train_x)  # no slice of the training rows held out


def test_the_test_tier_never_changes_training():
    clean = _tiered()
    poisoned = _tiered()
    poisoned.test_y = poisoned.test_y * 0 + 1e3  # would dominate any loss or correlation that saw it
    poisoned.test_x = -poisoned.test_x
    a, b = _train(clean), _train(poisoned)
    for key in ("best_epoch", "stopped_epoch", "decays"):
        np.testing.assert_array_equal(getattr(a.trainer.early_stopping, key), getattr(b.trainer.early_stopping, key))
    np.testing.assert_array_equal(a.trainer.predict(clean.val_x), b.trainer.predict(clean.val_x))


def _corr(a, b):
    a, b = a - a.mean(axis=0), b - b.mean(axis=0)
    return (a * b).sum(axis=0) / np.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0))


def _expected(y, pred, ids):
    """An independent numpy computation of the test-tier scores (equal repeats per image)."""
    y, pred = y.astype(np.float64), pred.astype(np.float64)
    order = np.unique(ids)
    raw = np.stack([y[ids == u] for u in order], axis=1)          # (repeats, images, neurons)
    p_img = np.stack([pred[ids == u].mean(axis=0) for u in order])
    reps = raw.shape[0]
    averaged = _corr(raw.mean(axis=0), p_img)
    single = _corr(y, pred)
    noise = raw.var(axis=0, ddof=1).mean(axis=0)
    total = raw.reshape(-1, raw.shape[2]).var(axis=0, ddof=1)
    mse = ((raw - p_img[None]) ** 2).mean(axis=(0, 1))
    feve = 1 - (mse - noise) / (total - noise)
    explainable = (total - noise) / total >= 0.15  # neurons with a FEVE worth averaging
    loo = (raw.sum(axis=0)[None] - raw) / (reps - 1)
    oracle = _corr(raw.reshape(-1, raw.shape[2]), loo.reshape(-1, raw.shape[2]))
    trial = _corr(raw.reshape(-1, raw.shape[2]), np.broadcast_to(p_img[None], raw.shape).reshape(-1, raw.shape[2]))
    slope = (trial * oracle).sum() / (oracle ** 2).sum()
    return {"correlation": averaged.mean(), "single_trial_correlation": single.mean(), "feve": feve[explainable].mean(),
            "feve_neurons": explainable.sum(), "oracle": oracle.mean(), "fraction_of_oracle": slope}


def test_feve_leaves_out_neurons_without_explainable_variance():
    """A pure-noise neuron (s2t close to s2n) would swing the FEVE mean arbitrarily far: it is left
    out, and the count of neurons averaged is recorded."""
    from msc_neuro_cli.metrics.tier_scores import score_test_tier

    rng = np.random.default_rng(4)
    images, repeats = 30, 5
    signal = rng.normal(size=(images, 3)) * [2.0, 1.0, 0.0]      # neuron 2: no stimulus drive
    ids = np.repeat(np.arange(images), repeats)
    y = signal[ids] + rng.normal(size=(images * repeats, 3))
    pred = signal[ids] + 0.3 * rng.normal(size=y.shape)
    pred[:, 2] = 50.0                                             # far off, on the noise neuron
    got = score_test_tier(y, pred, ids)
    expected = _expected(y, pred, ids)
    assert got["feve_neurons"] == expected["feve_neurons"] == 2
    assert got["feve"] == pytest.approx(expected["feve"], rel=1e-9)
    assert 0.5 < got["feve"] <= 1.0


def test_recorded_test_scores_are_computed_on_the_test_tier_with_the_restored_weights(tmp_path):
    data = _tiered()
    session = _train(data)
    early = session.trainer.early_stopping
    assert early.best_epoch.min() >= 0
    # restore-best: the weights recorded are the best check's
    np.testing.assert_allclose(session.trainer.held_out_correlation(), -early.best_loss, rtol=1e-5)
    store, rid = RunStore(tmp_path), RunId("f", "tx0", 0, "t")
    records.record_group(store, rid, {**_spec(), "name": "lnp"}, data, session)
    preds = session.trainer.predict(data.test_x)
    for j, rep in enumerate(sorted(store.finished_reps(rid).values(), key=lambda r: r["rep"])):
        expected = _expected(data.test_y, preds[j], data.test_image_ids)
        for key, value in expected.items():
            assert rep["test"][key] == pytest.approx(value, rel=1e-6, abs=1e-9), key
        assert rep["test"]["trials"] == len(data.test_y) and rep["test"]["images"] == 12
        assert rep["early_stopping"]["best_held_out_correlation"] == pytest.approx(-early.best_loss[j])
    from msc_neuro_cli.metrics.tier_scores import summarise_test
    summary = summarise_test(list(store.finished_reps(rid).values()))["test"]
    assert set(summary) == {"correlation", "single_trial_correlation", "feve", "fraction_of_oracle"}


def test_a_dataset_without_tiers_records_no_test_scores(tmp_path):
    data = _tiered()
    plain = Dataset(data.train_x, data.train_y, data.val_x, data.val_y, data.input_dims)
    session = _train(plain)
    assert session.trainer.n_rows < len(plain.train_x)  # early stopping holds out training rows as before
    store, rid = RunStore(tmp_path), RunId("f", "tx0", 0, "t")
    records.record_group(store, rid, _spec(), plain, session)
    assert all("test" not in rep for rep in store.finished_reps(rid).values())


def test_validate_checks_the_test_tier_and_side_arrays():
    data = _tiered()
    data.test_y = data.test_y[:, :2]
    with pytest.raises(DatasetError, match="test_y has shape"):
        validate(data, "dataset 'x'")
    data = _tiered()
    data.train_behavior = np.zeros((3, 2), np.float32)
    with pytest.raises(DatasetError, match="train_behavior has shape"):
        validate(data, "dataset 'x'")


def test_status_and_export_metrics_show_the_test_tier(tmp_path):
    from rich.console import Console

    from msc_neuro_cli.runs.results import metric_rows, summary_rows
    from msc_neuro_cli.runs.status import print_status, record_scores

    data = _tiered()
    session = _train(data)
    spec = {**_spec(), "experiment": "t", "folder": "f", "exp": "tx0", "run": 0, "hyperparameters": {},
            "spec_hash": "0" * 16, "manifest": None, "dataset": {}}
    store, rid = RunStore(tmp_path), RunId("f", "tx0", 0, "t")
    store.write_spec(rid, spec)
    records.record_group(store, rid, spec, data, session)
    records.finish_run(store, rid, spec, 0.0)
    record = store.read_record(rid)
    reps = [record["repetitions"][j]["test"]["correlation"] for j in range(2)]
    assert record["test"]["correlation"]["median"] == pytest.approx(float(np.median(reps)))
    rows = metric_rows(store, [(rid, spec)])
    assert [r["test_correlation"] for r in rows] == reps
    assert summary_rows(store, [(rid, spec)])[0]["test_fraction_of_oracle_median"] is not None
    scores = record_scores(record)
    assert scores["test_correlation"] == record["test"]["correlation"]["median"]
    console = Console(record=True, width=140)
    print_status([{"run_id": str(rid), "name": "lnp", "state": "finished", "epoch": 30, "epochs": 30,
                   "reps_done": 2, "reps_total": 2, "backend": "local", "job_id": None,
                   "last_val_correlation": None, **scores}], console)
    assert "test r" in console.export_text()


def _behaving(seed=1, rows=(240, 60)) -> Dataset:
    """Images are noise; responses follow the first behaviour variable of the same trial."""
    rng = np.random.default_rng(seed)
    parts = []
    for n in rows:
        x = rng.normal(size=(n, SIDE * SIDE)).astype(np.float32)
        b = rng.normal(size=(n, 3)).astype(np.float32)
        rate = np.exp(0.8 * b[:, :1] + np.linspace(-0.5, 0.5, NEURONS)[None])
        parts.append((x, rng.poisson(rate).astype(np.float32), b))
    (tx, ty, tb), (vx, vy, vb) = parts
    return Dataset(tx, ty, vx, vy, (SIDE, SIDE, 1), train_behavior=tb, val_behavior=vb)


def test_behaviour_rows_reach_the_model_with_the_trials_of_the_batch():
    data = _behaving()
    spec = {"seeds": [0, 1], "name": "mod",
            "training": {"epochs": 40, "batch_size": 16, "learning_rate": 2e-2, "summary_every": 40, "xla": False},
            "model": [{"component": "normal", "params": {"units": "N"}, "where": "m[0]"},
                      {"component": "behavior_modulator", "params": {"activation": "softplus"}, "where": "m[1]"}]}
    session = training_session.build(spec, data, [0, 1])
    assert set(session.side["train"]) == {"behavior"}
    session.trainer.train()
    val = session.trainer.summary(39, np.zeros(2)).val_correlation.mean(axis=1)
    assert np.all(val > 0.3), val  # only the behaviour of the same trial explains the responses
    shuffled = {"behavior": data.val_behavior[np.random.default_rng(0).permutation(len(data.val_x))]}
    pred = session.trainer.predict(data.val_x, shuffled)
    assert np.mean([np.corrcoef(pred[0][:, n], data.val_y[:, n])[0, 1] for n in range(NEURONS)]) < 0.2


def test_a_model_reading_behaviour_refuses_a_dataset_without_it():
    from msc_neuro_cli.engine.side_inputs import SideInputError

    data = _tiered()
    spec = {"seeds": [0], "name": "mod", "training": {"epochs": 2, "xla": False},
            "model": [{"component": "normal", "params": {"units": "N"}, "where": "m[0]"},
                      {"component": "behavior_modulator", "params": {}, "where": "m[1]"}]}
    with pytest.raises(SideInputError, match="behavior_modulator.*'behavior'"):
        training_session.build(spec, data, [0])


def _summaries(data, **training):
    """Train the two-replica model, returning every summary the trainer reported."""
    spec = _spec()
    spec["training"] = {**TRAINING, "summary_every": 2, **training}
    session = training_session.build(spec, data, [0, 1])
    seen = []
    session.trainer.train(on_summary=seen.append)
    return session, seen


def test_summaries_reuse_the_checks_validation_scores_and_can_leave_the_training_set_out():
    data = _tiered()
    full, every = _summaries(data)
    fast, final_only = _summaries(data, train_correlation="final")
    assert [s.epoch for s in every] == [s.epoch for s in final_only]
    for a, b in zip(every, final_only):
        # the same training: validation scores equal whether computed by the check or the summary
        np.testing.assert_allclose(a.val_correlation, b.val_correlation, rtol=1e-6, atol=1e-7)
    # every summary but the last leaves the training set's correlation out ...
    assert all(np.isnan(s.train_correlation).all() for s in final_only[:-1])
    # ... and the last one has it, equal to the full schedule's
    np.testing.assert_allclose(final_only[-1].train_correlation, every[-1].train_correlation, rtol=1e-6, atol=1e-7)
    # the reused validation scores are numpy's on the validation tier at that epoch's weights
    x, y = data.val_x, data.val_y
    for j, pred in enumerate(fast.trainer.predict(x)):
        expected = _corr(y.astype(np.float64), pred.astype(np.float64))
        np.testing.assert_allclose(fast.trainer.summary(0, np.zeros(2)).val_correlation[j], expected, rtol=1e-5)


def test_train_correlation_final_keeps_spec_hashes_of_runs_without_it():
    from msc_neuro_cli.engine import training_schema as schema
    block = {key: p.default for key, p in schema.TRAINING.items()}
    assert "train_correlation" not in schema.frozen("training", block, schema.TRAINING)
    assert schema.frozen("training", {**block, "train_correlation": "final"}, schema.TRAINING)["train_correlation"] == "final"
