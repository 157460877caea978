"""Early stopping: held-out split, patience and decay bookkeeping, restore-best, R-independence."""

from __future__ import annotations

import numpy as np
import pytest

from msc_neuro_cli.engine.early_stopping import (EarlyStopping, EarlyStoppingOptions, check_epochs,
                                                 holdout_split)
from msc_neuro_cli.engine.model import ComponentSpec, assemble, replica_weights
from msc_neuro_cli.engine.trainer import ReplicatedTrainer, TrainingConfig
from msc_neuro_cli.plugin_system.manager import registries

SIDE, NEURONS = 5, 4


def test_holdout_split_is_fixed_disjoint_and_complete():
    keep, held = holdout_split(50, 0.2)
    assert len(held) == 10 and len(keep) == 40
    assert sorted(np.concatenate([keep, held]).tolist()) == list(range(50))
    again_keep, again_held = holdout_split(50, 0.2)
    np.testing.assert_array_equal(held, again_held)
    with pytest.raises(ValueError, match="validation_fraction"):
        holdout_split(5, 0.01)


def test_check_epochs_always_ends_with_the_last_epoch():
    assert check_epochs(10, 3) == [2, 5, 8, 9]
    assert check_epochs(9, 3) == [2, 5, 8]
    assert check_epochs(2, 5) == [1]


def _reference(losses, patience, decay_steps, factor, min_delta=0.0):
    """Straightforward single-replica rule, written independently of the vectorised class."""
    best, best_i, wait, decays, lr, stopped = np.inf, -1, 0, 0, 1.0, None
    lrs = []
    for i, loss in enumerate(losses):
        if stopped is None:
            if loss < best - min_delta:
                best, best_i, wait = loss, i, 0
            else:
                wait += 1
                if wait >= patience:
                    if decays < decay_steps:
                        decays, wait, lr = decays + 1, 0, lr * factor
                    else:
                        stopped, lr = i, 0.0
        lrs.append(lr)
    return best_i, stopped, decays, lrs


def test_bookkeeping_matches_a_per_replica_reference():
    rng = np.random.default_rng(3)
    checks = 30
    losses = np.cumsum(rng.normal(0.0, 1.0, size=(checks, 5)), axis=0)  # random walks: plateaus
    opts = EarlyStoppingOptions(patience=3, lr_decay_steps=2, lr_decay_factor=0.5, min_delta=0.1)
    es = EarlyStopping(opts, 5)
    lrs = []
    for i in range(checks):
        weights = [np.full((5, 2), float(i)), np.full((5,), float(i))]  # weight value = check index
        es.check(i, losses[i], weights)
        lrs.append(es.lr_scale.copy())
    final = es.final_weights([np.full((5, 2), -1.0), np.full((5,), -1.0)])
    for r in range(5):
        best_i, stopped, decays, ref_lrs = _reference(losses[:, r], 3, 2, 0.5, 0.1)
        assert es.best_epoch[r] == best_i
        assert (es.stopped_epoch[r] if es.stopped_epoch[r] >= 0 else None) == stopped
        assert es.decays[r] == decays
        np.testing.assert_allclose([lr[r] for lr in lrs], ref_lrs)
        assert np.all(final[0][r] == best_i) and final[1][r] == best_i  # restored the best check's weights


def test_state_round_trip():
    es = EarlyStopping(EarlyStoppingOptions(patience=1), 2)
    es.check(0, np.array([1.0, 2.0]), [np.zeros((2, 3))])
    es.check(1, np.array([0.5, 3.0]), [np.ones((2, 3))])
    copy = EarlyStopping(EarlyStoppingOptions(patience=1), 2)
    copy.load_state(es.state())
    for name in ("best_loss", "best_epoch", "wait", "decays", "lr_scale", "stopped_epoch"):
        np.testing.assert_array_equal(getattr(copy, name), getattr(es, name))
    np.testing.assert_array_equal(copy.best_weights[0], es.best_weights[0])


# ---------------------------------------------------------------------------------- trainer
def _data(rows=60, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows + 10, SIDE * SIDE)).astype("float32")
    w = rng.normal(size=(SIDE * SIDE, NEURONS)) * 0.2
    y = rng.poisson(np.exp(np.clip(x @ w, -3, 2))).astype("float32")
    return x[:rows], y[:rows], x[rows:], y[rows:]


def _trainer(seeds, epochs=40, **early):
    reg = registries().components
    specs = [ComponentSpec("normal", {"units": 12, "activation": "softplus"}, "t[0]"),
             ComponentSpec("normal", {"units": "N", "activation": "softplus"}, "t[1]")]
    layers = assemble(specs, (SIDE, SIDE, 1), NEURONS, len(seeds), reg)
    options = {"validation_fraction": 0.25, "patience": 2, "check_every": 2, **early}
    cfg = TrainingConfig(epochs=epochs, summary_every=10, learning_rate=0.05, early_stopping=options,
                         replica_groups=1)
    trainer = ReplicatedTrainer(layers, reg.losses.get("poisson"), cfg, list(seeds), *_data())
    trainer.initialise()
    return trainer


@pytest.mark.slow
def test_overfitting_replicas_stop_early_restore_best_and_do_not_depend_on_r():
    together = _trainer([0, 1, 2])
    summaries = []
    together.train(on_summary=lambda s: summaries.append(s.epoch))
    es = together.early_stopping
    assert together.completed
    assert (es.stopped_epoch >= 0).any(), "a large learning rate on 45 rows should overfit and stop"
    # Restore-best: the held-out loss of the final weights is each replica's best recorded loss.
    np.testing.assert_allclose(together.held_out_loss(), es.best_loss, rtol=1e-5)
    if es.all_stopped:
        assert together.epoch < 40 and summaries[-1] == together.epoch - 1
    alone = _trainer([1])
    alone.train()
    assert alone.early_stopping.best_epoch[0] == es.best_epoch[1]
    assert alone.early_stopping.stopped_epoch[0] == es.stopped_epoch[1]
    for a, b in zip(replica_weights(alone.layers, 0), replica_weights(together.layers, 1)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_learning_rate_decay_steps_reach_the_optimiser():
    trainer = _trainer([0, 1], epochs=4, patience=1, lr_decay_steps=3, lr_decay_factor=0.5,
                       min_delta=1e9)  # nothing counts as an improvement after the first check
    trainer.train()
    scale = trainer.groups[0].optimizer.lr_scale.numpy()
    np.testing.assert_allclose(scale, [0.5, 0.5])  # checks after epochs 1 and 3: first sets the best
    assert trainer.epoch == 4 and not trainer.early_stopping.all_stopped


@pytest.mark.slow
def test_interrupted_and_resumed_training_equals_uninterrupted():
    straight = _trainer([0, 1])
    straight.train()
    first = _trainer([0, 1])
    first.train(on_summary=lambda s: True)  # interrupt at the first summary (epoch 0)
    state = first.state()
    assert "early_stopping.best_loss" in state["arrays"] and first.epoch < 40
    resumed = _trainer([0, 1])
    resumed.load_state(state)
    resumed.train()
    np.testing.assert_array_equal(resumed.early_stopping.best_epoch, straight.early_stopping.best_epoch)
    for r in range(2):
        for a, b in zip(replica_weights(resumed.layers, r), replica_weights(straight.layers, r)):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def _manifest_with(tiny_manifest, early: str, epochs: int = 6) -> None:
    text = tiny_manifest.read_text().replace(
        "training: {epochs: 6,", f"training: {{early_stopping: {early}, epochs: {epochs},")
    tiny_manifest.write_text(text)


def test_unknown_early_stopping_option_is_a_manifest_error(tmp_path, tiny_manifest):
    from msc_neuro_cli.testing import neuro
    _manifest_with(tiny_manifest, "{patiense: 3}")
    proc = neuro("run", "tiny", "--dry-run", "--manifest", str(tiny_manifest), cwd=tmp_path)
    assert proc.returncode == 2
    assert "patiense" in proc.stderr and "early_stopping" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_worker_records_early_stopping_per_repetition(tmp_path, tiny_manifest):
    import json

    from msc_neuro_cli.testing import neuro
    _manifest_with(tiny_manifest, "{validation_fraction: 0.2, patience: 2, check_every: 5}", epochs=200)
    store = tmp_path / "training_data"
    proc = neuro("run", "tiny", "--run", "0", "--manifest", str(tiny_manifest), "--store", str(store),
                 cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    record = json.loads((store / "runs/testfolder/tinyx0/record.json").read_text())
    for rep in record["repetitions"]:
        report = rep["early_stopping"]
        assert 0 <= report["best_epoch"] < 200 and report["restored_best"]
        assert report["epochs_trained"] == (report["stopped_epoch"] + 1 if report["stopped_epoch"] is not None else 200)
        assert rep["curve"][-1]["epoch"] <= report["epochs_trained"] - 1
    state = json.loads((store / "runs/testfolder/tinyx0/state.json").read_text())
    assert state["state"] == "finished" and state["epoch"] == max(r["epochs"] for r in record["repetitions"])


def test_min_lr_turns_a_decay_below_it_into_a_stop():
    # learning rate 1e-3, factor 0.3: 3e-4 is allowed, 9e-5 would be below min_lr 2e-4
    opts = EarlyStoppingOptions(patience=1, lr_decay_steps=3, lr_decay_factor=0.3, min_lr=2e-4)
    es = EarlyStopping(opts, 1, learning_rate=1e-3)
    for i, loss in enumerate([1.0, 2.0, 2.0, 2.0]):
        es.check(i, np.array([loss]), [np.zeros((1, 2))])
    assert es.decays[0] == 1 and es.stopped_epoch[0] == 2
    assert es.lr_scale[0] == 0.0


def test_restore_on_decay_names_the_decaying_replicas_and_gives_their_best_weights():
    opts = EarlyStoppingOptions(patience=2, lr_decay_steps=2, lr_decay_factor=0.5, restore_on_decay=True)
    es = EarlyStopping(opts, 3)
    # replica 0 improves at every check; 1 is best at check 0 then flat; 2 is best at check 1.
    losses = [[3.0, 1.0, 2.0], [2.0, 1.5, 1.0], [1.0, 1.5, 1.5], [0.5, 1.5, 1.5]]
    returned = []
    for i, row in enumerate(losses):
        returned.append(es.check(i, np.array(row), [np.full((3, 2), float(i))]))
    # replica 1: checks 1 and 2 without improvement -> decay at check 2; replica 2: at check 3.
    np.testing.assert_array_equal(np.array(returned), [[False] * 3, [False] * 3, [False, True, False],
                                                      [False, False, True]])
    back = es.restored([np.full((3, 2), 9.0)], np.array([False, True, True]))[0]
    np.testing.assert_array_equal(back[:, 0], [9.0, 0.0, 1.0])  # each its own best check's weights
    plain = EarlyStopping(EarlyStoppingOptions(patience=2, lr_decay_steps=2), 3)
    assert not any(plain.check(i, np.array(row), [np.zeros((3, 2))]).any() for i, row in enumerate(losses))


def test_restore_on_decay_puts_the_best_weights_back_into_training():
    """A decay with restore_on_decay continues from the best check's weights: right after it the
    held-out loss equals the best recorded one (without the option it is the current, worse one)."""
    seen = {}
    for restore in (True, False):
        trainer = _trainer([0, 1], epochs=4, check_every=1, patience=1, lr_decay_steps=3,
                           min_delta=1e9, restore_on_decay=restore)  # no improvement after check 0
        trainer._check_held_out(0)  # the best: the initial weights after no training
        for group in trainer.groups:  # move the weights away from the best
            group.set_weights([w + 0.05 for w in group.weights()])
        trainer._pull()
        trainer._check_held_out(1)  # patience 1 ran out: a decay
        assert list(trainer.early_stopping.decays) == [1, 1]
        seen[restore] = trainer.held_out_loss()
    np.testing.assert_allclose(seen[True], trainer.early_stopping.best_loss, rtol=1e-5)
    assert np.all(np.abs(seen[False] - trainer.early_stopping.best_loss) > 1e-4)
