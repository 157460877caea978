"""``neuro export-curves`` (CSV/JSON) and ``neuro export-h5`` (per-neuron arrays in HDF5).

HDF5 layout (one group per run; arrays over repetitions R, neurons N and summary steps S)::

    /                      attrs: format ("neuro-results"), format_version, store, created, neuro_version
    /runs/{folder}/{exp}   attrs: run_id, experiment, run, name, source, hyperparameters (JSON), spec_hash
        rep, seed, val_correlation, train_correlation, seconds, epochs              (R,)
        val_correlation_per_neuron, train_correlation_per_neuron                    (R, N)
        region                                                                       (N,) strings
        ceilings/{cc_max, oracle_jackknife, oracle_conservative}                     (N,)
        curve/epoch (S,); curve/val_correlation, curve/train_correlation, curve/loss  (R, S)

Missing values are NaN (a step one repetition did not log, a seed run's per-neuron arrays, which
are then absent). Seed runs that share FOLDER/EXP are stored under ``{folder}/{exp}/{name}``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from msc_neuro_cli.api import __version__

from .api import curves_frame
from .loading import Run
from .neurons import CEILINGS, dataset_info

FORMAT_VERSION = 1


def curves_text(runs: list[Run], fmt: str) -> tuple[str, int]:
    """Training curves, one row per (run, repetition, summary step), as CSV or JSON text."""
    frame = curves_frame(runs)
    if fmt == "csv":
        return frame.to_csv(index=False), len(frame)
    records = [{k: _plain(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]
    return json.dumps(records, indent=1) + "\n", len(frame)


def _plain(value):
    """numpy scalars -> Python, NaN -> None (JSON null), full float precision kept."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def _column(values, dtype=np.float64) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=dtype)


def write_h5(runs: list[Run], out: Path, store: Path, ceilings: bool = True) -> int:
    """Write the runs' per-repetition and per-neuron arrays to ``out`` (atomically). Returns runs written."""
    import h5py

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    with h5py.File(tmp, "w") as h5:
        h5.attrs.update({"format": "neuro-results", "format_version": FORMAT_VERSION,
                         "store": str(Path(store).resolve()), "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                         "neuro_version": __version__})
        for run in runs:
            group = h5.require_group(f"runs/{run.run_id}")
            group.attrs.update({"run_id": run.run_id, "experiment": run.experiment, "run": run.run,
                                "name": run.name, "source": run.source,
                                "hyperparameters": json.dumps(run.hyperparameters, default=str),
                                "spec_hash": (run.spec or {}).get("spec_hash", "")})
            reps = run.reps
            group["rep"] = np.array([r.rep for r in reps], np.int64)
            group["seed"] = np.array([-1 if r.seed is None else r.seed for r in reps], np.int64)
            for key in ("val_correlation", "train_correlation", "seconds", "epochs"):
                group[key] = _column([getattr(r, key) for r in reps])
            _per_neuron(group, run, ceilings)
            _curves(group.require_group("curve"), reps)
    os.replace(tmp, out)
    return len(runs)


def _per_neuron(group, run: Run, ceilings: bool) -> None:
    per = [r.val_per_neuron for r in run.reps]
    if not per or any(p is None for p in per) or len({len(p) for p in per}) != 1:
        return
    group["val_correlation_per_neuron"] = np.stack(per)
    train = [r.train_per_neuron if r.train_per_neuron is not None else np.full(len(per[0]), np.nan)
             for r in run.reps]
    group["train_correlation_per_neuron"] = np.stack(train)
    info = dataset_info(run.spec, run.record) if ceilings else None
    if info is not None and info.region_of is not None and len(info.region_of) == len(per[0]):
        group["region"] = np.array([str(r) for r in info.region_of], dtype=h5_str())
        for name in CEILINGS:
            if name in info.ceilings:
                group[f"ceilings/{name}"] = info.ceilings[name]
        if info.checksum:
            group.attrs["dataset_sha256"] = info.checksum


def _curves(group, reps) -> None:
    epochs = sorted({int(p["epoch"]) for r in reps for p in r.curve})
    index = {e: i for i, e in enumerate(epochs)}
    group["epoch"] = np.array(epochs, np.int64)
    for key in ("val_correlation", "train_correlation", "loss"):
        values = np.full((len(reps), len(epochs)), np.nan)
        for i, rep in enumerate(reps):
            for point in rep.curve:
                if point.get(key) is not None:
                    values[i, index[int(point["epoch"])]] = point[key]
        group[key] = values


def h5_str():
    import h5py
    return h5py.string_dtype("utf-8")
