"""``experiments.yaml`` -> validated :class:`Experiment` objects.

Shape of the file (every key is documented in docs/manifest.md)::

    version: 1
    defaults: {dataset: ..., training: ..., repetitions: 10}   # merged into every experiment
    profiles: {qsub-cpu: {...}}                                 # backend resource profiles
    experiments:
      bs4_exp3:
        folder: experiments_3          # the thesis pipeline's {exp_folder}
        name: "bs4_softplusDoG"        # the thesis pipeline's {name}; {axis} fields take grid values
        aliases: [exp3]
        extends: bs4                   # start from another experiment, override below
        dataset: {name: antolik2016, regions: [1], preprocess: {inputs: zscore}}
        model: [{component: diff_of_gaussians, units: 9}, ...]
        training: {epochs: 5000, learning_rate: 1e-3, ...}
        grid: {hidden: [0.2, 0.4]}     # or a list of sub-grids {start: 172, axes: {...}, zip: {...}}
        # or, instead of a grid: search: {sampler: tpe, trials: 12, space: {...}} (spec/search_space.py)
        repetitions: 10                # or seeds: [3, 3, 23, 23]

Values written ``${axis}`` anywhere in dataset/model/training are replaced by the run's grid
(or search) value (``"${hidden}N"`` interpolates into a string). Errors name file, line and key.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from msc_neuro_cli.errors import ManifestError
from msc_neuro_cli.plugin_system.params import Param, resolve_params
from msc_neuro_cli.store.run_store import check_component
from msc_neuro_cli.spec.search_space import SearchSpec, parse_search
from msc_neuro_cli.spec.yamlsource import LocDict, LocList, load, merge

EXPERIMENT_KEYS = {"folder", "exp", "name", "description", "aliases", "extends", "dataset", "model",
                   "training", "grid", "repetitions", "seeds", "run_suffix", "backend", "abstract", "search"}
TOP_KEYS = {"version", "defaults", "profiles", "experiments", "templates"}  # templates: YAML anchors only
AXIS_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class Where:
    """A place in the manifest, for error messages: ``file:line: dotted.key``."""

    file: Path
    line: int
    key: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.key}"

    def child(self, container: Any, key: Any) -> "Where":
        line = container.line_of(key) if hasattr(container, "line_of") else self.line
        sub = f"{self.key}[{key}]" if isinstance(key, int) else f"{self.key}.{key}"
        return Where(self.file, line, sub)

    def error(self, message: str) -> ManifestError:
        return ManifestError(f"{self}: {message}")


@dataclass
class SubGrid:
    start: int
    axes: dict[str, list]      # cartesian product
    zipped: dict[str, list]    # varied together, one value of each per point
    where: Where


@dataclass
class Experiment:
    key: str
    folder: str
    exp_name: str  # the thesis pipeline's {exp}: stored as {folder}/{exp_name}x{run}; defaults to the key
    name: str
    aliases: list[str]
    description: str
    dataset: LocDict
    model: LocList
    training: LocDict
    grid: list[SubGrid]
    seeds: list[int]
    run_suffix: bool
    backend: LocDict
    where: Where
    manifest: "Manifest" = field(repr=False, default=None)
    search: SearchSpec | None = None  # trials proposed by a sampler plugin instead of a grid


@dataclass
class Manifest:
    path: Path
    experiments: dict[str, Experiment]
    profiles: dict[str, Any]
    aliases: dict[str, str]

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def get(self, name: str) -> Experiment:
        key = self.aliases.get(name, name)
        if key not in self.experiments:
            known = ", ".join(sorted(self.experiments))
            raise ManifestError(f"{self.path}: unknown experiment {name!r} (available: {known})")
        return self.experiments[key]


def _expect(value: Any, kind: type | tuple, where: Where, what: str) -> Any:
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        raise where.error(f"expected {what}, got {value!r}")
    return value


def _parse_grid(raw: Any, where: Where) -> list[SubGrid]:
    if raw is None:
        return [SubGrid(0, {}, {}, where)]
    subgrids = raw if isinstance(raw, list) else [raw]
    parsed, used = [], {}
    next_start = 0
    for i, sub in enumerate(subgrids):
        w = where.child(raw, i) if isinstance(raw, list) else where
        _expect(sub, dict, w, "a mapping of axis -> list of values")
        if "axes" in sub or "zip" in sub or "start" in sub:
            extra = set(sub) - {"axes", "zip", "start"}
            if extra:
                raise w.child(sub, sorted(extra)[0]).error("unknown key in a sub-grid (known: start, axes, zip)")
            axes, zipped = sub.get("axes") or {}, sub.get("zip") or {}
            start = sub.get("start", next_start)
            _expect(start, int, w.child(sub, "start"), "a run index")
        else:
            axes, zipped, start = sub, {}, next_start
        for group, label in ((axes, "axes"), (zipped, "zip")):
            _expect(group, dict, w, f"{label} as a mapping of axis -> list of values")
            for axis, values in group.items():
                aw = w.child(group, axis)
                if not isinstance(axis, str) or not AXIS_NAME.match(axis):
                    raise aw.error("grid axis names must be identifiers (letters, digits, _)")
                _expect(values, list, aw, "a list of values")
                if not values:
                    raise aw.error("empty grid axis: give at least one value")
        lengths = {len(v) for v in zipped.values()}
        if len(lengths) > 1:
            raise w.error(f"zip axes must have equal lengths, got {sorted(lengths)}")
        count = (lengths.pop() if lengths else 1)
        for values in axes.values():
            count *= len(values)
        for run in range(start, start + count):
            if run in used:
                raise w.error(f"run index {run} is produced by two sub-grids (see 'start')")
            used[run] = True
        parsed.append(SubGrid(start, dict(axes), dict(zipped), w))
        next_start = start + count
    return parsed


def _parse_seeds(exp: dict, where: Where) -> list[int]:
    if "seeds" in exp:
        seeds = _expect(exp["seeds"], list, where.child(exp, "seeds"), "a list of integer seeds")
        if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
            raise where.child(exp, "seeds").error("expected a non-empty list of integer seeds")
        return list(seeds)
    reps = exp.get("repetitions", 1)
    if not isinstance(reps, int) or isinstance(reps, bool) or reps < 1:
        raise where.child(exp, "repetitions").error(f"expected a positive integer, got {reps!r}")
    return list(range(reps))  # the thesis pipeline: repetition i is seeded with i


def _check_template(template: str, axes: set[str], where: Where) -> None:
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise where.error(f"bad name template {template!r}: {exc}") from None
    for name in fields:
        if not AXIS_NAME.match(name or ""):
            raise where.error(f"name template field {{{name}}} must be a plain grid axis name")
        if name not in axes and name != "run":
            known = ", ".join(sorted(axes)) or "none"
            raise where.error(f"name template uses {{{name}}} but the grid has no such axis (axes: {known})")


def _resolve_extends(key: str, raw: dict, exps: dict, where: Where, seen: tuple = ()) -> dict:
    parent = raw.get("extends")
    if parent is None:
        return raw
    if parent in seen or parent == key:
        raise where.child(raw, "extends").error(f"circular extends: {' -> '.join((*seen, key, parent))}")
    if parent not in exps:
        raise where.child(raw, "extends").error(f"extends unknown experiment {parent!r}")
    base = _resolve_extends(parent, exps[parent], exps, where, (*seen, key))
    base = {k: v for k, v in base.items() if k not in ("aliases", "abstract", "extends")}
    merged = merge(LocDict(base), raw)
    merged.line = getattr(raw, "line", 0)
    for whole, other in (("grid", "search"), ("search", "grid")):  # replaced whole, never merged axis by axis
        if whole in raw:
            merged[whole] = raw[whole]
            if other not in raw:  # a search extending a grid experiment (or back) drops the other
                merged.pop(other, None)
    if "repetitions" in raw and "seeds" not in raw:
        merged.pop("seeds", None)
    return merged


def load_manifest(path: Path, overrides: dict[str, list] | None = None) -> Manifest:
    """The manifest at ``path``; ``overrides`` maps an experiment key to the
    :class:`~msc_neuro_cli.spec.overrides.Override` list applied to it before validation."""
    path = Path(path)
    top = load(path)
    root = Where(path, 1, "(top level)")
    if not isinstance(top, dict):
        raise root.error("the manifest must be a mapping with an 'experiments' key")
    unknown = set(top) - TOP_KEYS
    if unknown:
        key = sorted(unknown, key=str)[0]
        raise Where(path, top.line_of(key), str(key)).error(f"unknown top-level key (known: {', '.join(sorted(TOP_KEYS))})")
    exps_raw = top.get("experiments")
    ew = Where(path, top.line_of("experiments"), "experiments")
    if not isinstance(exps_raw, dict) or not exps_raw:
        raise ew.error("expected a non-empty mapping of experiment name -> definition")
    defaults = top.get("defaults") or LocDict()
    _expect(defaults, dict, Where(path, top.line_of("defaults"), "defaults"), "a mapping")
    profiles = top.get("profiles") or {}
    _expect(profiles, dict, Where(path, top.line_of("profiles"), "profiles"), "a mapping of profile name -> settings")

    experiments, aliases = {}, {}
    for key, raw in exps_raw.items():
        w = ew.child(exps_raw, key)
        if not isinstance(key, str):
            raise w.error("experiment names must be strings")
        check_name(key, w)
        _expect(raw, dict, w, "a mapping")
        for k in raw:
            if k not in EXPERIMENT_KEYS:
                raise w.child(raw, k).error(f"unknown key (known: {', '.join(sorted(EXPERIMENT_KEYS))})")
        if raw.get("abstract"):
            continue
        exp = merge(defaults, _resolve_extends(key, raw, exps_raw, w))
        if overrides and key in overrides:
            from msc_neuro_cli.spec.overrides import apply_overrides
            exp = apply_overrides(exp, overrides[key])
        experiments[key] = _parse_experiment(key, exp, w)
        for alias in experiments[key].aliases:
            if alias in aliases or alias in exps_raw:  # noqa: SIM102
                raise w.child(raw, "aliases").error(f"alias {alias!r} is already used")
            aliases[alias] = key
    manifest = Manifest(path, experiments, dict(profiles), aliases)
    for exp in experiments.values():
        exp.manifest = manifest
    return manifest


def check_name(value: str, where: Where) -> None:
    try:
        check_component(value, "name")
    except Exception as exc:
        raise where.error(str(exc)) from None


def _parse_experiment(key: str, exp: dict, w: Where) -> Experiment:
    folder = exp.get("folder", "experiments")
    check_name(_expect(folder, str, w.child(exp, "folder"), "a folder name"), w.child(exp, "folder"))
    exp_name = _expect(exp.get("exp", key), str, w.child(exp, "exp"), "an experiment name")
    check_name(exp_name, w.child(exp, "exp"))
    name = _expect(exp.get("name", key), str, w.child(exp, "name"), "a name template")
    aliases = _expect(exp.get("aliases", []), list, w.child(exp, "aliases"), "a list of names")
    for alias in aliases:
        check_name(_expect(alias, str, w.child(exp, "aliases"), "an alias name"), w.child(exp, "aliases"))
    model = exp.get("model")
    if not isinstance(model, list) or not model:
        raise w.child(exp, "model").error("expected a non-empty list of components")
    for i, comp in enumerate(model):
        cw = w.child(exp, "model").child(model, i)
        if not isinstance(comp, dict) or "component" not in comp:
            raise cw.error("each model entry needs a 'component' key")
    dataset = exp.get("dataset")
    if not isinstance(dataset, dict) or "name" not in dataset:
        raise w.child(exp, "dataset").error("expected a mapping with a 'name' key")
    training = _expect(exp.get("training", LocDict()), dict, w.child(exp, "training"), "a mapping")
    grid = _parse_grid(exp.get("grid"), w.child(exp, "grid"))
    axes = set().union(*[set(s.axes) | set(s.zipped) for s in grid])
    search = parse_search(exp.get("search"), w.child(exp, "search"), AXIS_NAME)
    if search is not None:
        if exp.get("run_suffix", True) is False:
            raise w.child(exp, "run_suffix").error("a search stores each trial as its own run: run_suffix must be true")
        axes = set(search.space) | axes  # a grid beside a search gives the first trials (plan.first_trials)
    _check_template(name, axes, w.child(exp, "name"))
    seeds = _parse_seeds(exp, w)
    run_suffix = _expect(exp.get("run_suffix", True), bool, w.child(exp, "run_suffix"), "true or false")
    backend = _expect(exp.get("backend", LocDict()), dict, w.child(exp, "backend"), "a mapping")
    return Experiment(key, folder, exp_name, name, list(aliases), str(exp.get("description", "")), dataset, model,
                      training, grid, seeds, run_suffix, backend, w, search=search)


__all__ = ["Experiment", "Manifest", "SubGrid", "Where", "load_manifest", "Param", "resolve_params"]
