"""Stop requests within seconds: the compiled loop runs any range of steps, split calls compute
bit for bit what one call does, and a stop within an epoch abandons it (no state of it is kept),
so a resume from the last epoch-boundary checkpoint equals training straight through."""

from __future__ import annotations

import math

import numpy as np
import pytest

from msc_neuro_cli.engine.call_pacing import FINISHED, GROWTH, INTERRUPTED, CallPace
from msc_neuro_cli.engine.model import ComponentSpec, assemble
from msc_neuro_cli.engine.trainer import ReplicatedTrainer, TrainingConfig
from msc_neuro_cli.plugin_system.manager import registries

SIDE, NEURONS, ROWS = 5, 4, 50  # batch 16, kept partial batch: 4 steps per epoch


def _data():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(ROWS + 10, SIDE * SIDE)).astype("float32")
    y = rng.poisson(1.5, size=(ROWS + 10, NEURONS)).astype("float32")
    return x[:ROWS], y[:ROWS], x[ROWS:], y[ROWS:]


def _trainer(seeds=(1, 2), epochs=5, **config):
    reg = registries().components
    specs = [ComponentSpec("diff_of_gaussians", {"units": 3}, "t[0]"),
             ComponentSpec("normal", {"units": 3, "activation": "softplus"}, "t[1]"),
             ComponentSpec("normal", {"units": "N", "activation": "softplus", "regularizers": {"l2": 0.1}}, "t[2]")]
    layers = assemble(specs, (SIDE, SIDE, 1), NEURONS, len(seeds), reg)
    cfg = TrainingConfig(epochs=epochs, summary_every=2, **config)
    trainer = ReplicatedTrainer(layers, reg.losses.get("poisson"), cfg, list(seeds), *_data())
    trainer.initialise()
    return trainer


def _state_arrays(trainer):
    return trainer.state()["arrays"]


def _assert_identical(a: dict, b: dict):
    assert sorted(a) == sorted(b)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_pace_starts_with_one_step_then_sizes_calls_by_time():
    pace = CallPace(2.0)
    assert pace.steps(1000) == 1
    pace.per_step, pace.last_steps = 0.001, 1000
    assert pace.steps(10**6) == 2000 and pace.steps(500) == 500
    pace.last_steps = 10
    assert pace.steps(10**6) == 10 * GROWTH  # a short call's pace is not trusted to grow more
    pace.per_step = 10.0
    assert pace.steps(10**6) == 1  # a step slower than the target: one step a call
    assert pace.within(0) and not pace.within(1)
    assert CallPace(math.inf).steps(123) == 123  # never split


@pytest.mark.parametrize("xla,groups", [(True, 1), (True, 2), (False, 1), (False, 2)])
def test_calls_of_one_step_equal_one_call_per_stretch(xla, groups):
    """The same steps in the same order with the same arithmetic: bit-identical weights, Adam
    moments and summary losses, whether each stretch is one call or one call per step."""
    losses = {}
    arrays = {}
    for name, seconds in (("one call", math.inf), ("one step a call", 0.0)):
        trainer = _trainer(xla=xla, replica_groups=groups, stop_check_seconds=seconds)
        seen = []
        assert trainer.train(on_summary=lambda s: seen.append(s.loss)) == FINISHED
        losses[name], arrays[name] = np.stack(seen), _state_arrays(trainer)
    np.testing.assert_array_equal(losses["one call"], losses["one step a call"])
    _assert_identical(arrays["one call"], arrays["one step a call"])


@pytest.mark.parametrize("groups", [1, 2])
def test_stop_within_an_epoch_abandons_it_and_resume_equals_straight_training(groups):
    straight = _trainer(epochs=6, replica_groups=groups, stop_check_seconds=0.0)
    straight.train()

    checkpoints, calls = [], iter(range(10**6))
    first = _trainer(epochs=6, replica_groups=groups, stop_check_seconds=0.0)  # one step a call
    outcome = first.train(should_stop=lambda: next(calls) == 14,  # 3 epochs and 2 of 4 steps done
                          epoch_end_wanted=lambda: True,
                          on_epoch_end=lambda epoch: checkpoints.append((epoch, first.state())))
    assert outcome == INTERRUPTED
    assert first.partial_epoch and first.epoch == 3
    assert [epoch for epoch, _ in checkpoints] == [3]  # after epochs 1 and 2: summaries (marks 0, 1)
    with pytest.raises(RuntimeError, match="within an epoch"):
        first.state()  # weights part of the way through epoch 3: no checkpoint of them
    with pytest.raises(RuntimeError, match="load a checkpoint"):
        first.train()

    resumed = _trainer(epochs=6, replica_groups=3 - groups, stop_check_seconds=2.0)
    resumed.load_state(checkpoints[-1][1])
    assert resumed.epoch == 3
    assert resumed.train() == FINISHED
    _assert_identical(_state_arrays(resumed), _state_arrays(straight))


def test_a_stop_finishes_an_epoch_that_ends_within_seconds_and_keeps_its_state():
    trainer = _trainer(epochs=6, stop_check_seconds=0.0)
    calls = iter(range(10**6))
    trainer._pace.within = lambda steps: True  # the rest of the epoch is quick: finish it
    assert trainer.train(should_stop=lambda: next(calls) >= 14) == INTERRUPTED
    assert not trainer.partial_epoch and trainer.epoch == 4
    trainer.state()  # an epoch boundary's state: a checkpoint may be written

    at_end = _trainer(epochs=6, stop_check_seconds=0.0)
    calls, timed = [0], at_end._pace.timed

    def counted(steps, call):
        calls[0] += 1
        return timed(steps, call)

    at_end._pace.timed = counted
    assert at_end.train(stop_at_epoch_end=lambda: calls[0] >= 14) == INTERRUPTED  # asked mid-epoch 3
    assert not at_end.partial_epoch and at_end.epoch == 4


# ---------------------------------------------------------------------------- through the worker's session
def _session_spec():
    return {"seeds": [0, 1], "name": "lnp", "experiment": "t", "folder": "f", "exp": "tx0", "run": 0,
            "hyperparameters": {}, "spec_hash": "0" * 16, "manifest": None, "dataset": {},
            "training": {"epochs": 8, "batch_size": 8, "learning_rate": 3e-2, "summary_every": 3, "xla": False},
            "model": [{"component": "normal", "params": {"units": "N", "activation": "softplus"}, "where": "t"}]}


def _dataset():
    from msc_neuro_cli.datasets.contract import Dataset

    rng = np.random.default_rng(4)
    x = rng.normal(size=(160, SIDE * SIDE)).astype(np.float32)
    y = rng.poisson(np.log1p(np.exp(x @ rng.normal(size=(SIDE * SIDE, NEURONS)) * 0.4))).astype(np.float32)
    return Dataset(x[:120], y[:120], x[120:], y[120:], (SIDE, SIDE, 1))  # 15 steps per epoch


def _count_calls(trainer) -> list:
    calls, timed = [0], trainer._pace.timed

    def counted(steps, call):
        calls[0] += 1
        return timed(steps, call)

    trainer._pace.timed = counted
    return calls


def test_worker_session_writes_no_checkpoint_within_an_epoch_and_resumes_bit_for_bit(tmp_path, monkeypatch):
    from msc_neuro_cli.runs import training_session
    from msc_neuro_cli.runs.checkpoint import load_checkpoint
    from msc_neuro_cli.store.run_store import RunId, RunStore

    monkeypatch.setenv("NEURO_CHECKPOINT_SECONDS", "0")  # a checkpoint at every summary
    spec, data, rid = _session_spec(), _dataset(), RunId("f", "tx0", 0, "t")

    def session_in(store):
        store.write_spec(rid, spec)
        session = training_session.build(spec, data, [0, 1])
        session.trainer._pace = CallPace(0.0)  # one step a call
        return session

    straight = session_in(RunStore(tmp_path / "straight"))
    assert training_session.train(straight, RunStore(tmp_path / "straight"), rid, spec, lambda: False)

    store = RunStore(tmp_path / "stopped")
    stopped = session_in(store)
    calls = _count_calls(stopped.trainer)
    # 4 epochs and 5 of 15 steps: within epoch 4, after the summary of epoch 2 (3 epochs) checkpointed
    assert not training_session.train(stopped, store, rid, spec, lambda: calls[0] >= 4 * 15 + 5)
    assert stopped.trainer.partial_epoch and stopped.trainer.epoch == 4
    # the summary's (3), or an epoch boundary's if 2 s passed since: never the partial epoch's
    assert load_checkpoint(store.checkpoint_path(rid))[1]["epoch"] in (3, 4)

    resumed = session_in(store)
    assert training_session.train(resumed, store, rid, spec, lambda: False)
    assert [p["epoch"] for p in resumed.curves[0]] == [0, 2, 5, 7]
    _assert_identical(_state_arrays(resumed.trainer), _state_arrays(straight.trainer))
