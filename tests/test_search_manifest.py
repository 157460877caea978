"""An experiment's ``search:`` block: every key validated with a one-line error naming it, space
names substituted like grid axes, and a search without a sampler plugin refused clearly."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from msc_neuro_cli.api import SearchSampler
from msc_neuro_cli.errors import ManifestError
from msc_neuro_cli.spec.manifest import load_manifest
from msc_neuro_cli.spec.plan import first_trials
from msc_neuro_cli.testing import neuro, write_tiny_dataset

BASE = """\
version: 1
experiments:
  s:
    dataset: {{name: antolik2016, path: data, regions: [1]}}
    model:
      - {{component: diff_of_gaussians, units: "${{units}}"}}
      - {{component: normal, units: N, activation: softplus}}
    training: {{epochs: 1, learning_rate: "${{lr}}"}}
{search}
"""
GOOD = """\
    search:
      sampler: random
      trials: 3
      space:
        lr: {low: 1.0e-4, high: 1.0e-1, log: true}
        units: {low: 2, high: 6, step: 2}
"""


def _manifest(tmp_path: Path, search: str) -> Path:
    path = tmp_path / "experiments.yaml"
    path.write_text(BASE.format(search=textwrap.indent(textwrap.dedent(search), "    ")))
    return path


def test_a_valid_search_is_parsed_with_its_defaults_and_types(tmp_path):
    exp = load_manifest(_manifest(tmp_path, GOOD)).get("s")
    search = exp.search
    assert (search.sampler, search.trials, search.metric, search.direction, search.seed) == \
        ("random", 3, "val_correlation", "maximize", 0)
    lr, units = search.space["lr"], search.space["units"]
    assert (lr.kind, lr.low, lr.high, lr.log) == ("float", 1e-4, 1e-1, True)
    assert (units.kind, units.low, units.high, units.step) == ("int", 2, 6, 2)
    assert search.contains({"lr": 1e-3, "units": 4}) and not search.contains({"lr": 1e-3, "units": 3})
    assert not search.contains({"lr": 1.0, "units": 4}) and not search.contains({"lr": 1e-3})


@pytest.mark.parametrize("search, key, message", [
    ("search: {sampler: random, trials: 2, space: {}}", "s.search.space", "empty search space"),
    ("search: {sampler: random, trials: 0, space: {a: {choices: [1]}}}", "s.search.trials", "positive integer"),
    ("search: {sampler: random, trials: 2}", "s.search", "missing 'space'"),
    ("search: {sampler: random, trials: 2, space: {a: {low: 1.0, high: 1.0}}}", "s.search.space.a.low",
     "low must be below high"),
    ("search: {sampler: random, trials: 2, space: {a: {low: 3, high: 1}}}", "s.search.space.a.low",
     "low must be below high"),
    ("search: {sampler: random, trials: 2, metric: loss, space: {a: {choices: [1]}}}", "s.search.metric",
     "unknown metric 'loss'"),
    ("search: {sampler: random, trials: 2, direction: up, space: {a: {choices: [1]}}}", "s.search.direction",
     "maximize or minimize"),
    ("search: {sampler: random, trials: 2, budget: 3, space: {a: {choices: [1]}}}", "s.search.budget",
     "unknown key"),
    ("search: {sampler: random, trials: 2, space: {a: {low: 0.0, high: 1.0, log: true}}}", "s.search.space.a.low",
     "log range needs low > 0"),
    ("search: {sampler: random, trials: 2, space: {a: {low: 0.0, high: 1.0, step: 2}}}", "s.search.space.a.step",
     "integer ranges"),
    ("search: {sampler: random, trials: 2, space: {a: {low: 1, high: 6, step: 2}}}", "s.search.space.a.step",
     "multiple of step"),
    ("search: {sampler: random, trials: 2, space: {a: {choices: []}}}", "s.search.space.a.choices", "non-empty"),
    ("search: {sampler: random, trials: 2, space: {a: {choices: [[1, 2]]}}}", "s.search.space.a.choices",
     "plain values"),
    ("search: {sampler: random, trials: 2, space: {a: {low: 1}}}", "s.search.space.a", "missing 'high'"),
    ("search: {sampler: random, trials: 2, space: {a-b: {choices: [1]}}}", "s.search.space.a-b", "identifiers"),
    ("search: {sampler: 3, trials: 2, space: {a: {choices: [1]}}}", "s.search.sampler", "sampler name"),
    ("search: {sampler: random, trials: 2, seed: -1, space: {a: {choices: [1]}}}", "s.search.seed", "non-negative"),
    ("run_suffix: false\nsearch: {sampler: random, trials: 2, space: {a: {choices: [1]}}}", "s.run_suffix",
     "run_suffix must be true"),
])
def test_search_errors_are_one_line_and_name_the_key(tmp_path, search, key, message):
    with pytest.raises(ManifestError) as info:
        load_manifest(_manifest(tmp_path, search))
    text = str(info.value)
    assert "\n" not in text and f"experiments.{key}:" in text and message in text, text
    assert text.startswith(str(tmp_path / "experiments.yaml") + ":")


def test_the_name_template_may_use_search_parameters_and_nothing_else(tmp_path):
    search = "search: {sampler: random, trials: 2, space: {lr: {low: 0.1, high: 0.2}, units: {choices: [2]}}}"
    path = _manifest(tmp_path, search)
    path.write_text(path.read_text().replace("  s:\n", "  s:\n    name: \"s_lr{lr:.3f}\"\n"))
    assert load_manifest(path).get("s").search.trials == 2
    path.write_text(path.read_text().replace("{lr:.3f}", "{hidden}"))
    with pytest.raises(ManifestError, match=r"experiments\.s\.name: .*no such axis \(axes: lr, units\)"):
        load_manifest(path)


def test_search_without_a_sampler_plugin_says_to_install_neuro_optuna(tmp_path):
    write_tiny_dataset(tmp_path / "data")
    _manifest(tmp_path, GOOD)
    env = {"NEURO_PLUGINS": "basics,dense,frontends,datasets,local"}  # every plugin the run needs but optuna
    proc = neuro("run", "s", "--dry-run", cwd=tmp_path, env=env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    line = proc.stderr.strip()
    assert "\n" not in line and "experiments.s.search.sampler" in line and "neuro-optuna" in line, line
    assert not (tmp_path / "training_data").exists()


def test_an_unresolved_parameter_fails_the_dry_run_naming_the_space(tmp_path):
    write_tiny_dataset(tmp_path / "data")
    path = _manifest(tmp_path, GOOD)
    path.write_text(path.read_text().replace('"${units}"', '"${width}"'))
    proc = neuro("run", "s", "--dry-run", cwd=tmp_path)
    assert proc.returncode == 2
    assert "experiments.s.model[0].units: ${width} is not a grid axis or search parameter" in proc.stderr
    assert "(axes: lr, units)" in proc.stderr


def test_a_search_extending_a_grid_experiment_replaces_the_grid(tmp_path):
    path = _manifest(tmp_path, "grid: {units: [2, 3], lr: [0.1]}")
    path.write_text(path.read_text() + "  searched:\n    extends: s\n" + textwrap.indent(GOOD, "") +
                    "  gridded:\n    extends: searched\n    grid: {units: [4], lr: [0.2]}\n")
    manifest = load_manifest(path)
    searched, gridded = manifest.get("searched"), manifest.get("gridded")
    assert searched.search.trials == 3 and [s.axes for s in searched.grid] == [{}]
    assert gridded.search is None and gridded.grid[0].axes == {"units": [4], "lr": [0.2]}


@pytest.mark.parametrize("grid, message", [
    ("{width: [1]}", "grid axis 'width' is not a search parameter"),
    ("{units: [3]}", "units: 3 is outside the search space (units int 2..6 step 2)"),
    ("{units: [2, 4, 6], lr: [0.01, 0.02]}", "6 grid points but search.trials is 3"),
    ("[{start: 5, axes: {units: [2]}}]", "drop 'start'"),
])
def test_a_grid_beside_a_search_is_checked_against_the_space(tmp_path, grid, message):
    exp = load_manifest(_manifest(tmp_path, f"grid: {grid}\n" + textwrap.dedent(GOOD))).get("s")
    with pytest.raises(ManifestError) as info:
        first_trials(exp)
    assert "experiments.s.grid" in str(info.value) and message in str(info.value), info.value


class HighEnds(SearchSampler):
    """Proposes each parameter's high end (a stand-in sampler: the core alone is under test)."""

    def suggest(self, trial, finished):
        return {name: dim.high for name, dim in self.search.space.items()}


def test_a_grid_beside_a_search_gives_the_first_trials_and_the_sampler_the_rest(tmp_path):
    import types

    from msc_neuro_cli.api import hookimpl
    from msc_neuro_cli.plugin_system.manager import build_registries
    from msc_neuro_cli.runs.search import SearchRun
    from msc_neuro_cli.store.run_store import RunStore

    write_tiny_dataset(tmp_path / "data")
    manifest = _manifest(tmp_path, "grid: {units: [4, 2]}\n" + textwrap.dedent(GOOD).replace("random", "high_ends"))
    exp = load_manifest(manifest).get("s")
    plugin = types.ModuleType("ext_high_ends")
    plugin.register_samplers = hookimpl(lambda registry: registry.add("high_ends", HighEnds))
    search = SearchRun(exp, build_registries((plugin,)), RunStore(tmp_path / "store"), [], epochs=1)
    plans = [search._plan(t, [], force=False) for t in range(3)]
    assert [p.values for p in plans] == [{"lr": 0.1, "units": 4}, {"lr": 0.1, "units": 2}, {"lr": 0.1, "units": 6}]
    assert [p.run_id.run for p in plans] == [0, 1, 2] and plans[0].spec["search"]["trial"] == 0
    assert plans[1].spec["model"][0]["params"]["units"] == 2 and plans[1].spec["training"]["learning_rate"] == 0.1


def test_experiments_lists_a_search_by_its_trials(tmp_path):
    _manifest(tmp_path, GOOD)
    listed = json.loads(neuro("experiments", "--json", cwd=tmp_path, check=True).stdout)
    assert listed[0]["runs"] == 3
    assert listed[0]["search"] == {"sampler": "random", "trials": 3, "metric": "val_correlation", "direction": "maximize"}
    table = neuro("experiments", cwd=tmp_path, env={"COLUMNS": "200"}, check=True).stdout
    assert "3 trials (random)" in table
