"""Experiment -> runs (grid points) -> repetitions (seeds), each run validated and frozen as a spec.

A run's spec is plain JSON (model, training, dataset with every ``${axis}`` resolved); the worker
executes exactly that, whatever the manifest says later.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from dataclasses import dataclass
from typing import Any

from msc_neuro_cli import __version__
from msc_neuro_cli.datasets.contract import PREPROCESS_PARAMS
from msc_neuro_cli.engine import trainers, training_schema as schema
from msc_neuro_cli.errors import ManifestError, RegistryError
from msc_neuro_cli.spec.manifest import Experiment, Where
from msc_neuro_cli.plugin_system.params import COMMON_PARAMS, Param, resolve_params
from msc_neuro_cli.plugin_system.registry import PROBE
from msc_neuro_cli.store.run_store import RunId, check_component

_WHOLE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_PART = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass
class RunPlan:
    run_id: RunId
    name: str
    values: dict[str, Any]   # the grid point
    seeds: list[int]
    spec: dict[str, Any]     # frozen JSON spec for the worker

    @property
    def spec_hash(self) -> str:
        return self.spec["spec_hash"]


def substitute(value: Any, values: dict[str, Any], where: Where) -> Any:
    """Replace ``${axis}`` references by grid values (typed when the whole string is one reference)."""
    if isinstance(value, dict):  # keys may be references too: {"${reg_type}": "${reg}"}
        return {substitute(k, values, where.child(value, k)): substitute(v, values, where.child(value, k))
                for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, values, where.child(value, i)) for i, v in enumerate(value)]
    if isinstance(value, str) and "${" in value:
        whole = _WHOLE.match(value)
        names = [whole.group(1)] if whole else _PART.findall(value)
        for name in names:
            if name not in values:
                known = ", ".join(sorted(values)) or "none"
                raise where.error(f"${{{name}}} is not a grid axis or search parameter of this experiment "
                                  f"(axes: {known})")
        if whole:
            return values[whole.group(1)]
        return _PART.sub(lambda m: format(values[m.group(1)]), value)
    return value


class _NameValue(str):
    """A grid value as it appears in run names; lists print as the thesis pipeline's "[1,2,3]"."""

    def __format__(self, spec):
        return format(str(self), spec)


def name_value(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return _NameValue("[" + ",".join(str(name_value(v)) for v in value) + "]")
    return value


def grid_points(exp: Experiment):
    """Yield (run index, values) over the union of sub-grids, in run order of each sub-grid."""
    for sub in exp.grid:
        names = list(sub.axes)
        zipped = list(zip(*sub.zipped.values())) if sub.zipped else [()]
        index = sub.start
        for combo in itertools.product(*(sub.axes[n] for n in names)):
            for zvals in zipped:
                values = dict(zip(names, combo))
                values.update(zip(sub.zipped, zvals))
                yield index, values
                index += 1


def _with_params(declared: dict[str, Param], given: dict, where: Where) -> dict:
    try:
        return resolve_params(declared, given, lambda key: str(where.child(given, key) if key else where))
    except ValueError as exc:
        raise ManifestError(str(exc)) from None


def _lookup(find, name: Any, where: Where):
    """``find(name)`` (a registry's ``get``, ``require`` or ``declaration``), its unknown-name
    error placed at ``where``. Planning only checks names and reads declared parameters, so
    it never imports TensorFlow for the built-in components."""
    try:
        return find(name)
    except RegistryError as exc:
        raise where.error(str(exc)) from None


def _probe_regularizers(component: str, params: dict, where: Where, regs, regularized) -> None:
    """A regularizer the component cannot apply fails when planning (``--dry-run``), not silently:
    checked against the component's declaration, or (``PROBE``) by building it on a nominal input."""
    active = [name for name, strength in (params.get("regularizers") or {}).items() if strength]
    if not active:
        return
    if regularized != PROBE:
        for name in active:
            if regularized is not None and name not in regularized:
                raise ManifestError(f"{where}.regularizers.{name}: component {component!r} has no weight this "
                                    f"regularizer applies to (it regularises {', '.join(regularized) or 'none'})")
        return
    from msc_neuro_cli.engine.model import ComponentSpec, probe_regularizers

    probe_regularizers(ComponentSpec(component, params, str(where)), regs.components)


def run_count(exp: Experiment) -> int:
    """Runs of an experiment: its grid points, or its search's trials."""
    return exp.search.trials if exp.search is not None else sum(1 for _ in grid_points(exp))


def plan_trial(exp: Experiment, trial: int, params: dict[str, Any], regs) -> RunPlan:
    """Trial ``trial`` of a search: an ordinary run (index ``trial``, ``params`` as its grid point,
    the same spec hash), whose spec also names the search it belongs to (not hashed)."""
    plan = _plan_run(exp, trial, params, regs)
    search = exp.search
    plan.spec["search"] = {"trial": trial, "sampler": search.sampler, "metric": search.metric,
                           "direction": search.direction, "parameters": params}
    return plan


def first_trials(exp: Experiment) -> list[dict[str, Any]]:
    """A grid beside a search gives the values of its first trials: trial i takes grid point i
    (the sampler proposes the search parameters the grid does not name). Its axes must be search
    parameters, its values inside their ranges, its points numbered 0, 1, ... and no more than
    ``search.trials``. Without a grid: []."""
    if not any(sub.axes or sub.zipped for sub in exp.grid):
        return []
    space, where = exp.search.space, exp.grid[0].where
    points = list(grid_points(exp))
    for i, (index, values) in enumerate(points):
        if index != i:
            raise where.error("a grid beside a search gives trials 0, 1, ... in order: drop 'start'")
        for axis, value in values.items():
            if axis not in space:
                raise where.error(f"grid axis {axis!r} is not a search parameter (a grid beside a search gives "
                                  f"the first trials' values; search parameters: {', '.join(space)})")
            if not space[axis].contains(value):
                raise where.error(f"{axis}: {value!r} is outside the search space ({space[axis].describe()})")
    if len(points) > exp.search.trials:
        raise where.error(f"{len(points)} grid points but search.trials is {exp.search.trials}: "
                          "the grid gives the first trials, so trials must be at least its points")
    return [values for _, values in points]


def plan_search_bounds(exp: Experiment, regs) -> list[RunPlan]:
    """A search validated without sampling: its trials planned at the space's low ends (first
    choices) and at its high ends (last choices), and its grid's points if it has one. These plans
    are never stored."""
    first_trials(exp)
    ends = [{name: dim.ends()[side] for name, dim in exp.search.space.items()} for side in (0, 1)]
    return [plan_trial(exp, 0, values, regs) for values in ends]


def plan_experiment(exp: Experiment, regs) -> list[RunPlan]:
    """Every run of ``exp``, validated against the installed plugins. Raises ManifestError."""
    if exp.search is not None:
        raise exp.where.error("a search experiment's runs are planned trial by trial (`neuro run`)")
    runs = []
    for run, values in grid_points(exp):
        runs.append(_plan_run(exp, run, values, regs))
    names = {}
    for plan in runs:
        if str(plan.run_id) in names:
            raise exp.where.error(f"two runs share the id {plan.run_id}")
        names[str(plan.run_id)] = plan
    return runs


def _plan_run(exp: Experiment, run: int, values: dict, regs) -> RunPlan:
    w = exp.where
    dw = Where(w.file, exp.dataset.line, f"{w.key}.dataset")
    dataset = substitute(exp.dataset, values, dw)
    source_cls = _lookup(regs.datasets.get, dataset.get("name"), dw.child(exp.dataset, "name"))
    ds_params = {k: v for k, v in dataset.items() if k not in ("name", "preprocess")}
    ds_params = _with_params(source_cls.PARAMS, _located(ds_params, exp.dataset), dw)
    preprocess = _with_params(PREPROCESS_PARAMS, _located(dataset.get("preprocess") or {}, exp.dataset.get("preprocess")),
                              dw.child(exp.dataset, "preprocess"))

    training = _training(exp, values, regs)

    mw = Where(w.file, exp.model.line, f"{w.key}.model")
    model = []
    for i, comp in enumerate(exp.model):
        cw = mw.child(exp.model, i)
        resolved = substitute(comp, values, cw)
        if resolved.get("enabled", True) is False:
            continue  # optional layers switched off by a grid axis (e.g. bs3_exp10's lin_scale)
        declared, regularized = _lookup(regs.components.declaration, resolved["component"],
                                        cw.child(comp, "component"))
        params = {k: v for k, v in resolved.items() if k not in ("component", "enabled")}
        checked = _with_params({**COMMON_PARAMS, **declared}, _located(params, comp), cw)
        _lookup(regs.components.activations.require, checked["activation"], cw.child(comp, "activation"))
        for reg_name in (checked.get("regularizers") or {}):
            _lookup(regs.components.regularizers.require, reg_name, cw.child(comp, "regularizers"))
        _probe_regularizers(resolved["component"], params, cw, regs, regularized)
        model.append({"component": resolved["component"], "params": params, "where": str(cw)})

    try:
        name = exp.name.format(run=run, **{k: name_value(v) for k, v in values.items()})
        check_component(name, "run name")
    except (ManifestError, Exception) as exc:
        raise Where(w.file, w.line, f"{w.key}.name").error(str(exc)) from None
    exp_dir = f"{exp.exp_name}x{run}" if exp.run_suffix else exp.exp_name
    rid = RunId(exp.folder, check_component(exp_dir, "experiment"), run, exp.exp_name)
    spec = {
        "experiment": exp.key, "folder": exp.folder, "run": run, "exp": exp_dir, "name": name,
        "hyperparameters": values, "seeds": exp.seeds,
        "dataset": {"name": dataset["name"], "params": ds_params, "preprocess": preprocess,
                    "base_dir": str(exp.manifest.base_dir.resolve()) if exp.manifest else "."},
        "model": model, "training": training,
        "manifest": str(exp.manifest.path.resolve()) if exp.manifest else None,
        "neuro_version": __version__,
    }
    hashed = {k: spec[k] for k in ("dataset", "training", "seeds", "name")}
    hashed["model"] = [{"component": c["component"], "params": c["params"]} for c in model]
    spec["spec_hash"] = hashlib.sha256(json.dumps(hashed, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return RunPlan(rid, name, values, exp.seeds, spec)


def _training(exp: Experiment, values: dict, regs) -> dict:
    """The run's training block: validated against the engine's schema, defaults filled in."""
    w = exp.where
    tw = Where(w.file, getattr(exp.training, "line", w.line), f"{w.key}.training")
    training = _with_params(schema.TRAINING, _located(substitute(exp.training, values, tw), exp.training), tw)
    _lookup(regs.components.losses.require, training["loss"], tw.child(exp.training, "loss"))
    if training["early_stopping"] is not None:
        given = training["early_stopping"]
        ew = tw.child(exp.training, "early_stopping")
        if not isinstance(given, dict):
            raise ew.error("expected a mapping of early-stopping options")
        resolved = _with_params(schema.EARLY_STOPPING, given, ew)
        training["early_stopping"] = schema.frozen("early_stopping", resolved, schema.EARLY_STOPPING)
    training = schema.frozen("training", training, schema.TRAINING)
    if isinstance(training["replicas"], str) and training["replicas"] != "auto" or \
            isinstance(training["replicas"], int) and training["replicas"] < 1:
        raise tw.child(exp.training, "replicas").error("expected 'auto' or a positive integer")
    try:  # a key the optimizer's trainer cannot honour fails here, not in the job (data on disk: worker)
        trainers.choose(training, data_on_disk=False)
    except ManifestError as exc:
        raise ManifestError(f"{tw}: {exc}") from None
    return training


def _located(plain: dict, original: Any) -> dict:
    """Carry line numbers of ``original`` over to a substituted copy, for error messages."""
    from msc_neuro_cli.spec.yamlsource import LocDict
    out = LocDict(plain)
    out.line = getattr(original, "line", 0)
    out.lines = getattr(original, "lines", {})
    return out
