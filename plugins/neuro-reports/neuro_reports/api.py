"""The notebook API: runs, curves and per-neuron metrics of experiments as pandas DataFrames.

    from neuro_reports.api import load_runs, load_curves, load_per_neuron
    reps = load_runs("training_data", ["demo"])        # one row per repetition
    reps.groupby("hp_hidden").val_correlation.median()

``experiments`` takes experiment keys, ``FOLDER/EXPxRUN`` run ids or ``EXPxRUN`` (None: all);
runs written by the thesis pipeline itself (experiments.txt + TensorBoard events) are included with
``source == "seed"`` and no hyperparameters. Hyperparameter columns are ``hp_<axis>``; values that
are not scalars (lists such as regions) are JSON strings, as in ``neuro export-metrics``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from .loading import Run, load_runs as _load, run_order, select
from .neurons import CEILINGS, dataset_info

RUN_COLUMNS = ["run_id", "experiment", "folder", "exp", "run", "name", "source", "state"]


def runs(store: str | Path = "training_data", experiments: Iterable[str] | None = None) -> list[Run]:
    """The selected runs as :class:`neuro_reports.loading.Run` objects (for custom analyses)."""
    found = _load(Path(store))
    return sorted(select(found, experiments, where=str(store)), key=run_order)


def load_runs(store: str | Path = "training_data", experiments: Iterable[str] | None = None) -> pd.DataFrame:
    """One row per finished repetition: run identity, ``hp_*`` hyperparameters, seed, final
    validation/training correlation, epochs and training seconds."""
    return runs_frame(runs(store, experiments))


def load_curves(store: str | Path = "training_data", experiments: Iterable[str] | None = None) -> pd.DataFrame:
    """One row per (run, repetition, summary step): epoch, loss, train and validation correlation."""
    return curves_frame(runs(store, experiments))


def load_per_neuron(store: str | Path = "training_data", experiments: Iterable[str] | None = None,
                    ceilings: bool = True) -> pd.DataFrame:
    """One row per (run, repetition, neuron): region, validation and training correlation, and with
    ``ceilings`` the neuron's noise ceilings (``cc_max``, ``oracle_jackknife``,
    ``oracle_conservative``; NaN where the dataset has no repeats or cannot be loaded)."""
    return neurons_frame(runs(store, experiments), ceilings)


# --- Run objects -> DataFrames (used by the report too) -------------------------------------
def _base(run: Run) -> dict:
    return {"run_id": run.run_id, "experiment": run.experiment, "folder": run.folder, "exp": run.exp,
            "run": run.run, "name": run.name, "source": run.source, "state": run.state}


def _hp(run: Run) -> dict:
    return {f"hp_{k}": _scalar(v) for k, v in run.hyperparameters.items()}


def _scalar(value):
    return value if isinstance(value, (int, float, str, bool)) or value is None else json.dumps(value)


def runs_frame(selected: list[Run]) -> pd.DataFrame:
    rows = []
    for run in selected:
        for rep in run.reps:
            rows.append({**_base(run), **_hp(run), "rep": rep.rep, "seed": rep.seed,
                         "val_correlation": rep.val_correlation, "train_correlation": rep.train_correlation,
                         "epochs": rep.epochs, "seconds": rep.seconds})
    columns = RUN_COLUMNS + ["rep", "seed", "val_correlation", "train_correlation", "epochs", "seconds"]
    frame = pd.DataFrame(rows)
    return frame if rows else pd.DataFrame(columns=columns)


def curves_frame(selected: list[Run]) -> pd.DataFrame:
    rows = []
    for run in selected:
        for rep in run.reps:
            for point in rep.curve:
                rows.append({**_base(run), **_hp(run), "rep": rep.rep, "seed": rep.seed,
                             "epoch": int(point["epoch"]), "loss": point.get("loss"),
                             "train_correlation": point.get("train_correlation"),
                             "val_correlation": point.get("val_correlation")})
    columns = RUN_COLUMNS + ["rep", "seed", "epoch", "loss", "train_correlation", "val_correlation"]
    frame = pd.DataFrame(rows) if rows else pd.DataFrame(columns=columns)
    for col in ("loss", "train_correlation", "val_correlation"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce")
    return frame


def neurons_frame(selected: list[Run], ceilings: bool = True) -> pd.DataFrame:
    parts = []
    for run in selected:
        info = dataset_info(run.spec, run.record) if ceilings else None
        for rep in run.reps:
            if rep.val_per_neuron is None:
                continue
            n = len(rep.val_per_neuron)
            known = info is not None and info.region_of is not None and len(info.region_of) == n
            part = pd.DataFrame({"neuron": np.arange(n),
                                 "region": info.region_of if known else np.full(n, None, dtype=object),
                                 "val_correlation": rep.val_per_neuron,
                                 "train_correlation": rep.train_per_neuron if rep.train_per_neuron is not None
                                 else np.full(n, np.nan)})
            if ceilings:
                for c in CEILINGS:
                    values = info.ceilings.get(c) if info is not None else None
                    part[c] = values if values is not None and len(values) == n else np.nan
            for key, value in reversed(list({**_base(run), **_hp(run), "rep": rep.rep, "seed": rep.seed}.items())):
                part.insert(0, key, value)
            parts.append(part)
    columns = RUN_COLUMNS + ["rep", "seed", "neuron", "region", "val_correlation", "train_correlation"]
    if not parts:
        return pd.DataFrame(columns=columns + (list(CEILINGS) if ceilings else []))
    return pd.concat(parts, ignore_index=True)
