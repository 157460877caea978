"""An experiment's ``search:`` block (docs/manifest.md) and the contract of the samplers that
propose its trials.

    search:
      sampler: tpe                 # a sampler plugin: random or tpe from neuro-optuna
      trials: 12                   # runs in all; trial t is run t (stored as {exp}x{t})
      metric: val_correlation      # read from each finished run's record
      direction: maximize          # or minimize
      seed: 0                      # the sampler's seed
      space:
        lr: {low: 1.0e-4, high: 1.0e-2, log: true}    # a float (either bound a float)
        units: {low: 2, high: 8, step: 2}             # an integer (both bounds integers)
        act: {choices: [softplus, relu]}              # a categorical

Space names are used like grid axes: ``${lr}`` anywhere in dataset/model/training, ``{lr}`` in
the name template. The core knows no sampler: plugins register them (``register_samplers``),
subclassing :class:`SearchSampler`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

SEARCH_KEYS = {"sampler", "trials", "space", "metric", "direction", "seed"}
# medians over repetitions a finished run records (runs/results.py record_scores)
SEARCH_METRICS = ("val_correlation", "fraction_of_ceiling", "cc_norm")
DIRECTIONS = ("maximize", "minimize")


@dataclass(frozen=True)
class Dimension:
    """One searched parameter: ``kind`` is ``float``, ``int`` or ``categorical``."""

    name: str
    kind: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: int | None = None
    choices: tuple = ()

    def contains(self, value: Any) -> bool:
        if self.kind == "categorical":
            return any(type(value) is type(c) and value == c for c in self.choices)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.kind == "int" and (not isinstance(value, int) or (value - self.low) % (self.step or 1)):
            return False
        return self.low <= value <= self.high

    def ends(self) -> tuple[Any, Any]:
        """The two extreme values (first and last choice), for validating a plan without sampling."""
        return (self.choices[0], self.choices[-1]) if self.kind == "categorical" else (self.low, self.high)

    def describe(self) -> str:
        if self.kind == "categorical":
            return f"{self.name} in {list(self.choices)}"
        extra = " log" if self.log else f" step {self.step}" if self.step and self.step != 1 else ""
        return f"{self.name} {self.kind} {self.low}..{self.high}{extra}"


@dataclass(frozen=True)
class SearchSpec:
    """A validated ``search:`` block."""

    sampler: str
    trials: int
    space: dict[str, Dimension]
    metric: str
    direction: str
    seed: int
    where: Any  # manifest.Where of the block, for errors

    def contains(self, params: dict) -> bool:
        """Whether ``params`` are a point of this space (a stored trial of an edited search may not be)."""
        return set(params) == set(self.space) and all(d.contains(params[n]) for n, d in self.space.items())

    def better(self, a: float, b: float) -> bool:
        return better(a, b, self.direction)

    def describe(self) -> str:
        trials = f"{self.trials} trial{'s' if self.trials != 1 else ''}"
        return (f"{self.sampler} search, {trials}, {self.direction} {self.metric} over "
                + "; ".join(d.describe() for d in self.space.values()))


def better(a: float, b: float, direction: str) -> bool:
    """Whether metric value ``a`` beats ``b`` in ``direction`` (maximize or minimize)."""
    return a > b if direction == "maximize" else a < b


def params_text(params: dict[str, Any]) -> str:
    """Trial parameters for people: ``lr=0.00312, units=4``."""
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


class FinishedTrial(NamedTuple):
    """A trial whose run ended: its number, parameters and metric (None: the run failed, or its
    metric is not a finite number)."""

    number: int
    params: dict[str, Any]
    value: float | None


class SearchSampler:
    """Base class of search samplers (``register_samplers``): proposes each trial's parameters.

    ``suggest(trial, finished)`` gets the trial number and every finished trial (the run store's,
    rebuilt on each call, so an interrupted search resumes exactly) and returns one value per
    name of ``self.search.space``, inside its bounds. It must depend only on ``self.search``
    (its ``seed``), ``trial`` and ``finished``: the same history gives the same proposal.
    """

    def __init__(self, search: SearchSpec):
        self.search = search

    def suggest(self, trial: int, finished: list[FinishedTrial]) -> dict[str, Any]:
        """The parameters of trial number ``trial``."""
        raise NotImplementedError


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _dimension(name: str, raw: Any, where) -> Dimension:
    if not isinstance(raw, dict):
        raise where.error("expected {low, high[, log | step]} or {choices: [...]}")
    if "choices" in raw:
        extra = sorted(set(raw) - {"choices"}, key=str)
        if extra:
            raise where.child(raw, extra[0]).error("a categorical takes only 'choices'")
        choices = raw["choices"]
        if not isinstance(choices, list) or not choices:
            raise where.child(raw, "choices").error("expected a non-empty list of values")
        for value in choices:
            if value is not None and not isinstance(value, (str, int, float, bool)):
                raise where.child(raw, "choices").error(f"choices must be plain values (text, numbers, "
                                                        f"true/false), got {value!r}")
        if len({(type(c), c) for c in choices}) != len(choices):
            raise where.child(raw, "choices").error("choices repeat a value")
        return Dimension(name, "categorical", choices=tuple(choices))
    extra = sorted(set(raw) - {"low", "high", "log", "step"}, key=str)
    if extra:
        raise where.child(raw, extra[0]).error("unknown key (known: low, high, log, step; or choices)")
    for bound in ("low", "high"):
        if bound not in raw:
            raise where.error(f"missing '{bound}' (a range needs low and high)")
        if not _number(raw[bound]):
            raise where.child(raw, bound).error(f"expected a number, got {raw[bound]!r}")
    low, high, log = raw["low"], raw["high"], raw.get("log", False)
    if low >= high:
        raise where.child(raw, "low").error(f"low must be below high, got low {low} >= high {high}")
    if not isinstance(log, bool):
        raise where.child(raw, "log").error(f"expected true or false, got {log!r}")
    if log and low <= 0:
        raise where.child(raw, "low").error(f"a log range needs low > 0, got {low}")
    kind = "int" if isinstance(low, int) and isinstance(high, int) else "float"
    step = raw.get("step")
    if step is not None:
        sw = where.child(raw, "step")
        if kind != "int":
            raise sw.error("step is for integer ranges (give integer low and high)")
        if not isinstance(step, int) or isinstance(step, bool) or step < 1:
            raise sw.error(f"expected a positive integer, got {step!r}")
        if log and step != 1:
            raise sw.error("a log range cannot have a step")
        if (high - low) % step:
            raise sw.error(f"high - low ({high - low}) must be a multiple of step ({step})")
    return Dimension(name, kind, low, high, log, step if kind == "int" else None)


def parse_search(raw: Any, where, axis_name) -> SearchSpec | None:
    """The ``search:`` block of an experiment (None when absent). ``axis_name`` is the pattern
    space names must match (those of grid axes). Raises ManifestError naming the key."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise where.error("expected a mapping with sampler, trials, space (and metric, direction, seed)")
    extra = sorted(set(raw) - SEARCH_KEYS, key=str)
    if extra:
        raise where.child(raw, extra[0]).error(f"unknown key (known: {', '.join(sorted(SEARCH_KEYS))})")
    for key in ("sampler", "trials", "space"):
        if key not in raw:
            raise where.error(f"missing '{key}'")
    sampler = raw["sampler"]
    if not isinstance(sampler, str) or not sampler:
        raise where.child(raw, "sampler").error(f"expected a sampler name (random, tpe), got {sampler!r}")
    trials = raw["trials"]
    if not isinstance(trials, int) or isinstance(trials, bool) or trials < 1:
        raise where.child(raw, "trials").error(f"expected a positive integer, got {trials!r}")
    metric = raw.get("metric", "val_correlation")
    if metric not in SEARCH_METRICS:
        raise where.child(raw, "metric").error(f"unknown metric {metric!r} (known: {', '.join(SEARCH_METRICS)})")
    direction = raw.get("direction", "maximize")
    if direction not in DIRECTIONS:
        raise where.child(raw, "direction").error(f"expected maximize or minimize, got {direction!r}")
    seed = raw.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise where.child(raw, "seed").error(f"expected a non-negative integer, got {seed!r}")
    space_raw = raw["space"]
    sw = where.child(raw, "space")
    if not isinstance(space_raw, dict) or not space_raw:
        raise sw.error("empty search space: give at least one parameter ({name: {low, high} or {choices}})")
    space = {}
    for name, spec in space_raw.items():
        if not isinstance(name, str) or not axis_name.match(name):
            raise sw.child(space_raw, name).error("parameter names must be identifiers (letters, digits, _)")
        space[name] = _dimension(name, spec, sw.child(space_raw, name))
    return SearchSpec(sampler, trials, space, metric, direction, seed, where)


__all__ = ["Dimension", "SearchSpec", "FinishedTrial", "SearchSampler", "SEARCH_METRICS", "parse_search"]
