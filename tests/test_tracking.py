"""Trackers told about finished runs: a failing tracker is a warning naming it, never a failed run."""

from __future__ import annotations

import types
import warnings

import pytest

from msc_neuro_cli import hookimpl
from msc_neuro_cli.plugin_system.manager import build_registries
from msc_neuro_cli.runs.tracking import (Tracker, TrackerWarning, flat_parameters, notify_repetition,
                                         notify_trackers)
from msc_neuro_cli.store.run_store import RunStore

calls: list[tuple[str, str]] = []


class Recording(Tracker):
    def run_finished(self, store, run_id, record):
        calls.append(("run", f"{run_id}:{record['name']}"))

    def repetition_finished(self, store, run_id, result):
        calls.append(("rep", f"{run_id}:{result['rep']}"))


class Broken(Tracker):
    def run_finished(self, store, run_id, record):
        raise ConnectionError("tracking server\nunreachable")


def _registry():
    module = types.ModuleType("ext_tracking")

    def register_trackers(registry):
        registry.add("broken", Broken)
        registry.add("missing", "no_such_tracking_module:Tracker")  # a reference that cannot load
        registry.add("recording", Recording)

    module.register_trackers = hookimpl(register_trackers)
    return build_registries((module,)).trackers


@pytest.fixture(autouse=True)
def _reset(monkeypatch):
    calls.clear()
    monkeypatch.setenv("NEURO_PLUGINS", "none")  # the test's trackers only, not the installed ones


def test_failing_trackers_are_one_line_warnings_and_the_others_still_log(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURO_TRACKERS", "broken,missing,recording")
    store = RunStore(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        failed = notify_trackers(store, "f/tinyx0", {"name": "hsm"}, _registry())
    assert failed == ["broken", "missing"]
    assert calls == [("run", "f/tinyx0:hsm")]
    messages = [str(w.message) for w in caught if w.category is TrackerWarning]
    assert len(messages) == 2 and all("\n" not in m for m in messages)
    assert messages[0] == ("tracker 'broken' (plugin 'ext_tracking') could not log run f/tinyx0: "
                           "ConnectionError: tracking server unreachable")
    assert messages[1].startswith("tracker 'missing' (plugin 'ext_tracking') could not log run f/tinyx0: ")
    assert "no_such_tracking_module" in messages[1]


def test_repetitions_reach_trackers_that_want_them(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURO_TRACKERS", "recording,broken")
    assert notify_repetition(RunStore(tmp_path), "f/tinyx1", {"rep": 3}, _registry()) == []  # Broken has no hook
    assert calls == [("rep", "f/tinyx1:3")]


@pytest.mark.parametrize("setting, expected", [("none", []), ("", []), ("recording", [("run", "f/ex0:m")]),
                                               (None, [("run", "f/ex0:m")])])
def test_neuro_trackers_selects(tmp_path, monkeypatch, setting, expected):
    if setting is None:
        monkeypatch.delenv("NEURO_TRACKERS", raising=False)
    else:
        monkeypatch.setenv("NEURO_TRACKERS", setting)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrackerWarning)  # unset: the broken ones run (and warn) too
        notify_trackers(RunStore(tmp_path), "f/ex0", {"name": "m"}, _registry())
    assert calls == expected


def test_flat_parameters():
    spec = {"hidden": 0.5, "training": {"epochs": 6, "early_stopping": None, "replicas": "auto"},
            "dataset": {"params": {"regions": [1, 2]}},
            "model": [{"component": "normal", "units": "0.5N"}, {"component": "dog", "units": 3}]}
    assert flat_parameters(spec) == {
        "hidden": 0.5, "training.epochs": 6, "training.early_stopping": "null", "training.replicas": "auto",
        "dataset.params.regions": "[1, 2]", "model.0.component": "normal", "model.0.units": "0.5N",
        "model.1.component": "dog", "model.1.units": 3}
