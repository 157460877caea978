"""The random and TPE samplers: values of the space's types inside its bounds, log ranges drawn
log-uniformly, and proposals that depend only on the search, the trial number and the finished
trials (so a resumed search proposes what an uninterrupted one does)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from msc_neuro_cli.api import Dimension, FinishedTrial, SearchSpec
from neuro_optuna.samplers import RandomSearch, TpeSearch, distribution

SPACE = {
    "lr": Dimension("lr", "float", 1e-4, 1e-1, log=True),
    "dropout": Dimension("dropout", "float", 0.0, 0.5),
    "units": Dimension("units", "int", 2, 10, step=2),
    "layers": Dimension("layers", "int", 1, 64, log=True),
    "act": Dimension("act", "categorical", choices=("softplus", "relu", 3, True)),
}


def _search(sampler: str, seed: int = 0, direction: str = "maximize") -> SearchSpec:
    return SearchSpec(sampler, 40, SPACE, "val_correlation", direction, seed, where="test")


def _score(params: dict) -> float:
    """A made-up metric with its optimum at lr = 3e-3, units = 6."""
    return -(math.log10(params["lr"]) - math.log10(3e-3)) ** 2 - 0.01 * (params["units"] - 6) ** 2


def _drive(sampler, trials: int) -> list[FinishedTrial]:
    finished = []
    for t in range(trials):
        params = sampler.suggest(t, finished)
        finished.append(FinishedTrial(t, params, _score(params)))
    return finished


@pytest.mark.parametrize("cls", [RandomSearch, TpeSearch])
def test_proposals_have_the_space_types_and_stay_in_bounds(cls):
    finished = _drive(cls(_search(cls.__name__)), 25)  # past TPE's 10 random start-up trials
    for trial in finished:
        p = trial.params
        assert set(p) == set(SPACE)
        assert type(p["lr"]) is float and 1e-4 <= p["lr"] <= 1e-1
        assert type(p["dropout"]) is float and 0.0 <= p["dropout"] <= 0.5
        assert type(p["units"]) is int and p["units"] in (2, 4, 6, 8, 10)
        assert type(p["layers"]) is int and 1 <= p["layers"] <= 64
        assert any(p["act"] == c and type(p["act"]) is type(c) for c in SPACE["act"].choices)
        assert _search("x").contains(p)
    assert len({t.params["lr"] for t in finished}) == len(finished)  # continuous values do not repeat


def test_a_log_range_is_drawn_log_uniformly():
    sampler = RandomSearch(_search("random", seed=5))
    lr = np.array([sampler.suggest(t, [])["lr"] for t in range(400)])
    # log-uniform on [1e-4, 1e-1]: a third of the draws per decade; uniform would put 99% in the last one
    decades = np.histogram(np.log10(lr), bins=[-4, -3, -2, -1])[0] / len(lr)
    np.testing.assert_allclose(decades, [1 / 3] * 3, atol=0.08)


@pytest.mark.parametrize("cls", [RandomSearch, TpeSearch])
def test_a_proposal_depends_only_on_seed_trial_and_history(cls):
    history = _drive(cls(_search("x", seed=1)), 12)
    fresh = cls(_search("x", seed=1))  # as a resumed search rebuilds it from the store
    assert fresh.suggest(12, history) == cls(_search("x", seed=1)).suggest(12, history)
    if cls is TpeSearch:  # past its start-up trials TPE models the history; random ignores it
        assert fresh.suggest(12, history) != fresh.suggest(12, history[:-1])
    assert fresh.suggest(12, history) != cls(_search("x", seed=2)).suggest(12, history)  # the seed counts
    assert fresh.suggest(3, []) != fresh.suggest(4, [])  # each trial draws from its own stream


def test_tpe_concentrates_where_the_metric_is_best_and_respects_the_direction():
    runs = {}
    for direction in ("maximize", "minimize"):
        sign = 1 if direction == "maximize" else -1
        sampler = TpeSearch(_search("tpe", seed=3, direction=direction))
        finished = []
        for t in range(40):
            params = sampler.suggest(t, finished)
            finished.append(FinishedTrial(t, params, sign * _score(params)))
        runs[direction] = finished
    # the same metric, maximised or minimised as its negative: the last 20 proposals near the optimum
    for finished in runs.values():
        late = [abs(math.log10(t.params["lr"]) - math.log10(3e-3)) for t in finished[20:]]
        early = [abs(math.log10(t.params["lr"]) - math.log10(3e-3)) for t in finished[:10]]
        assert np.median(late) < np.median(early)


def test_failed_trials_are_passed_on_as_failed_and_the_distributions_match_the_space():
    sampler = TpeSearch(_search("tpe"))
    finished = _drive(sampler, 3)
    finished[1] = FinishedTrial(1, finished[1].params, None)  # no finite metric
    assert _search("x").contains(sampler.suggest(3, finished))
    assert distribution(SPACE["lr"]).log and distribution(SPACE["units"]).step == 2
    assert list(distribution(SPACE["act"]).choices) == list(SPACE["act"].choices)
