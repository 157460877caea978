"""Opening a dataset from the command line, and what ``neuro data info`` reports about it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml

from msc_neuro_cli.api import (Dataset, DatasetError, DatasetSource, finite_range, installed_registries as registries,
                               is_lazy, nanmean, neuron_weighted_mean, noise_ceilings, resolve_params)

from .merge import region_raw


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """``key=value`` strings; values are read as YAML scalars/lists (safe loader)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise DatasetError(f"--param {pair!r}: expected key=value")
        try:
            out[key.strip()] = yaml.safe_load(value) if value else ""
        except yaml.YAMLError as exc:
            raise DatasetError(f"--param {pair!r}: cannot read the value ({exc.problem})") from None
    return out


def open_source(name: str, pairs: list[str], base_dir: Path = Path(".")) -> tuple[str, DatasetSource]:
    """A registered dataset by name (``--param`` values validated), or a ``.h5`` container path."""

    params = parse_params(pairs)
    if name.endswith((".h5", ".hdf5")) and "path" not in params:
        name, params = "hdf5", {**params, "path": name}
    cls = registries().datasets.get(name)
    try:
        resolved = resolve_params(cls.PARAMS, params, lambda key: f"dataset {name!r}" + (f" --param {key}" if key else ""))
    except ValueError as exc:
        raise DatasetError(str(exc)) from None
    source = cls(resolved, base_dir)
    source.check()
    return name, source


def _range(array: np.ndarray) -> tuple[float, float, float]:
    if is_lazy(array):  # a dataset left on disk: never read it whole
        return finite_range(array)
    a = np.asarray(array, dtype=np.float64)
    a = a[np.isfinite(a)]
    return (float(a.min()), float(a.max()), float(a.mean())) if a.size else (np.nan, np.nan, np.nan)


def array_rows(data: Dataset) -> list[tuple[str, str, str, float, float, float]]:
    """(name, shape, dtype, min, max, mean) of each array present."""
    rows = []
    for name in ("train_x", "train_y", "val_x", "val_y", "raw_validation", "train_mask", "val_mask",
                 "test_x", "test_y", "test_mask", *data.side_arrays()):
        array = getattr(data, name)
        if array is not None:
            rows.append((name, "x".join(map(str, array.shape)), str(array.dtype), *_range(array)))
    return rows


RELIABILITY = ("normalised_noise_power", "explainable_variance_fraction", "oracle_jackknife",
               "oracle_conservative", "cc_max")


def reliability(data: Dataset) -> list[dict[str, Any]]:
    """Per-region mean noise ceilings, plus a neuron-weighted "all" row when there are several; a
    dataset with a test tier of repeated images gets a row for it (``static``)."""
    from .static import raw_test_repeats

    rows = []
    test = raw_test_repeats(data)
    for name, raw in [*region_raw(data), *([("test tier", test)] if test is not None else [])]:
        values = noise_ceilings(raw)
        row = {"region": name, "neurons": int(raw.shape[2]), "repeats": int(raw.shape[0])}
        row.update({key: nanmean(values[key]) for key in RELIABILITY})
        rows.append(row)
    if len(rows) > 1:
        total = {"region": "all (neuron-weighted)", "neurons": sum(r["neurons"] for r in rows), "repeats": None}
        for key in RELIABILITY:
            total[key] = neuron_weighted_mean((r[key], r["neurons"]) for r in rows)
        rows.append(total)
    return rows
