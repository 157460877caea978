"""Optuna samplers behind neuro's :class:`~msc_neuro_cli.api.SearchSampler` contract.

Each proposal builds a fresh in-memory study from the finished trials (the run store's) and asks
it once, with a sampler seeded from the search's ``seed`` and the trial number. The proposal for
trial t therefore depends only on the search and the trials finished before it, and a search that
was interrupted and resumed proposes exactly what an uninterrupted one would have. No Optuna
database is kept: neuro's run store is the study.
"""

from __future__ import annotations

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from msc_neuro_cli.api import Dimension, FinishedTrial, SearchSampler

optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "A new study created in memory" per trial


def distribution(dim: Dimension):
    """The Optuna distribution of one dimension of a neuro search space."""
    if dim.kind == "categorical":
        return CategoricalDistribution(list(dim.choices))
    if dim.kind == "int":
        return IntDistribution(int(dim.low), int(dim.high), log=dim.log, step=dim.step or 1)
    return FloatDistribution(float(dim.low), float(dim.high), log=dim.log)


def trial_seed(seed: int, trial: int) -> int:
    """The sampler seed of one trial: independent streams for (search seed, trial number)."""
    return int(np.random.SeedSequence([seed, trial]).generate_state(1)[0])


class OptunaSearch(SearchSampler):
    """Proposes a trial by asking an Optuna study rebuilt from the finished trials."""

    def make_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        raise NotImplementedError

    def suggest(self, trial: int, finished: list[FinishedTrial]) -> dict:
        """The parameters of trial ``trial``, given every finished trial."""
        space = {name: distribution(dim) for name, dim in self.search.space.items()}
        study = optuna.create_study(direction=self.search.direction,
                                    sampler=self.make_sampler(trial_seed(self.search.seed, trial)))
        for done in sorted(finished, key=lambda t: t.number):
            if done.value is None:  # no finite metric: a failed trial, which TPE keeps away from
                study.add_trial(create_trial(state=TrialState.FAIL, params=done.params, distributions=space))
            else:
                study.add_trial(create_trial(value=done.value, params=done.params, distributions=space))
        asked = study.ask(space)
        return {name: _plain(asked.params[name]) for name in self.search.space}


class RandomSearch(OptunaSearch):
    """``sampler: random``: independent uniform (log-uniform with ``log: true``) draws."""

    def make_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        return optuna.samplers.RandomSampler(seed=seed)


class TpeSearch(OptunaSearch):
    """``sampler: tpe``: Optuna's tree-structured Parzen estimator (random for its first 10 trials)."""

    def make_sampler(self, seed: int) -> optuna.samplers.TPESampler:
        return optuna.samplers.TPESampler(seed=seed)


def _plain(value):
    """numpy scalars as Python ones (they are written into the run's JSON spec)."""
    return value.item() if isinstance(value, np.generic) else value
