"""Experiment trackers (MLflow, Weights & Biases, ...) told about every finished run.

Plugins register trackers through the ``register_trackers`` hook. The worker calls
:func:`notify_trackers` once a run's record is written (and :func:`notify_repetition` for each
repetition's result): a tracker that fails is a one-line warning naming it, never a failed run,
because the run's results are already safe in the store.

``NEURO_TRACKERS`` selects trackers: unset means every installed one, ``none`` (or empty) none,
``mlflow,wandb`` only those.
"""

from __future__ import annotations

import json
import os
import warnings
from typing import Any, Iterator

from msc_neuro_cli.store.run_store import RunId, RunStore


class TrackerWarning(UserWarning):
    pass


class Tracker:
    """Base class of a tracker; a plugin registers the subclass, created anew for each notification.

    ``store`` is the :class:`~msc_neuro_cli.store.run_store.RunStore` (``store.model_path``,
    ``store.log_dir`` and ``store.root`` locate models and event files), ``run_id`` a
    :class:`~msc_neuro_cli.store.run_store.RunId` (``str(run_id)`` is ``FOLDER/EXPxRUN``).
    """

    def run_finished(self, store: RunStore, run_id: RunId, record: dict[str, Any]) -> None:
        """The run's record (as ``store.read_record`` returns it): ``hyperparameters``, ``spec``,
        ``seeds``, summaries, and ``repetitions``, each with its ``curve`` (one entry per summary
        epoch), scores and ``model`` path (relative to ``store.root``)."""
        raise NotImplementedError

    def repetition_finished(self, store: RunStore, run_id: RunId, result: dict[str, Any]) -> None:
        """One repetition's result file (as written to ``reps/N.json``); optional."""


def flat_parameters(values: Any, prefix: str = "") -> dict[str, bool | int | float | str]:
    """Nested settings as ``{"training.epochs": 6, "model.1.units": "0.5N", ...}``: scalars kept,
    mappings and lists of mappings walked, other lists and ``None`` written as JSON text."""
    if isinstance(values, dict):
        items = values.items()
    elif isinstance(values, (list, tuple)) and values and all(isinstance(v, dict) for v in values):
        items = enumerate(values)
    elif isinstance(values, (bool, int, float, str)):
        return {prefix: values}
    else:
        return {prefix: json.dumps(values)}
    flat: dict[str, bool | int | float | str] = {}
    for key, value in items:
        flat.update(flat_parameters(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def selected(name: str) -> bool:
    """Whether ``NEURO_TRACKERS`` lets the tracker ``name`` run."""
    only = os.environ.get("NEURO_TRACKERS")
    if only is None:
        return True
    names = {n.strip() for n in only.split(",")} - {"", "none"}
    return name in names


def _trackers(registry) -> Iterator[tuple[str, str, Any]]:
    if registry is None:
        from msc_neuro_cli.plugin_system.manager import registries

        registry = registries().trackers
    for entry in registry.entries():
        if selected(entry.name):
            yield entry.name, entry.plugin, entry


def _call_each(store: RunStore, run_id: RunId | str, method: str, payload: dict[str, Any], registry) -> list[str]:
    rid = run_id if isinstance(run_id, RunId) else RunId.parse(str(run_id))
    failed = []
    for name, plugin, entry in _trackers(registry):
        try:
            tracker = entry.obj
            tracker = tracker() if isinstance(tracker, type) else tracker
            getattr(tracker, method)(store, rid, payload)
        except Exception as exc:  # a tracker must never fail a finished run: name it and go on
            reason = " ".join(f"{type(exc).__name__}: {exc}".split())
            warnings.warn(f"tracker {name!r} (plugin {plugin!r}) could not log run {rid}: {reason}",
                          TrackerWarning, stacklevel=3)
            failed.append(name)
    return failed


def notify_trackers(store: RunStore, run_id: RunId | str, record: dict[str, Any], registry=None) -> list[str]:
    """Tell every selected tracker that ``run_id`` finished; returns the names of those that failed.

    ``registry`` defaults to the process-wide tracker registry (tests pass their own).
    """
    return _call_each(store, run_id, "run_finished", record, registry)


def notify_repetition(store: RunStore, run_id: RunId | str, result: dict[str, Any], registry=None) -> list[str]:
    """Tell every selected tracker that one repetition of ``run_id`` finished (its result file)."""
    return _call_each(store, run_id, "repetition_finished", result, registry)
