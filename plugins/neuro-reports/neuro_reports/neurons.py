"""Per-neuron context of a run's dataset: regions, noise ceilings and the dataset checksum.

The dataset is loaded exactly as the worker loaded it (``msc_neuro_cli.api.load_dataset`` on
the run's frozen spec). Ceilings come from the API's ceiling functions (docs/metrics.md), computed per region on
that region's own raw repeats (regions have different repeat counts). A run whose record already
holds its ceilings (``record["ceilings"]``, written by the worker since scores went into records)
uses those and its dataset is not loaded. A run whose dataset is no longer where its spec says gets
no ceilings; the reason is kept for the report.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field

import numpy as np

from msc_neuro_cli.api import (NeuroError, cc_max, load_dataset, nanmean, neuron_weighted_mean, oracle_conservative,
                               oracle_jackknife)


# the ceiling the model's correlation (with the trial-averaged validation response) is compared
# with: CCmax is the highest correlation any model can reach with an R-trial average.
CEILINGS = ("cc_max", "oracle_jackknife", "oracle_conservative")
DEFAULT_CEILING = "cc_max"


@dataclass
class DatasetInfo:
    name: str
    regions: list[tuple[str, int]]          # (region name, neurons) in column order
    checksum: str | None = None
    ceilings: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (neurons,) NaN where undefined
    region_of: np.ndarray | None = None     # (neurons,) region name of each column
    repeats: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    def region_slices(self) -> list[tuple[str, slice]]:
        out, start = [], 0
        for name, n in self.regions:
            out.append((name, slice(start, start + n)))
            start += n
        return out


_CACHE: dict[str, DatasetInfo] = {}


def dataset_info(spec: dict | None, record: dict | None = None) -> DatasetInfo | None:
    """Regions, ceilings and checksum of a run's dataset (cached per dataset spec); None for seed runs.

    The run's record is preferred when it holds the ceilings; older runs reload the dataset.
    """
    if spec is None:
        return None
    key = json.dumps(spec.get("dataset"), sort_keys=True, default=str)
    stored = _from_record(spec, record)
    if stored is not None:
        return _CACHE.setdefault(f"{key}|{stored.checksum}", stored)
    if key not in _CACHE:
        _CACHE[key] = _load(spec)
    return _CACHE[key]


def _from_record(spec: dict, record: dict | None) -> DatasetInfo | None:
    """DatasetInfo from the per-neuron ceilings a finished run's record holds (None if it has none)."""
    table = (record or {}).get("ceilings") or {}
    per_neuron = table.get("per_neuron") or {}
    regions = [(str(r), int(n)) for r, n in table.get("neurons") or []]  # in column order
    total = sum(n for _, n in regions)
    if not regions or any(len(per_neuron.get(c) or []) != total for c in CEILINGS):
        return None
    info = DatasetInfo(spec["dataset"]["name"], regions, checksum=record.get("dataset_sha256"))
    info.region_of = np.concatenate([np.full(n, r, dtype=object) for r, n in regions])
    info.repeats = {r: int(k) for r, k in (table.get("repeats") or {}).items() if k is not None}
    info.ceilings = {c: np.array([np.nan if v is None else v for v in per_neuron[c]], np.float64)
                     for c in CEILINGS}
    return info


def _load(spec: dict) -> DatasetInfo:
    name = spec["dataset"]["name"]
    try:
        data = load_dataset(spec["dataset"])
    except (NeuroError, OSError, ValueError) as exc:
        return DatasetInfo(name, [], error=f"dataset {name!r} could not be loaded: {exc}")
    regions = list(data.regions) or [("region1", data.n_neurons)]
    if sum(n for _, n in regions) != data.n_neurons:
        regions = [("all", data.n_neurons)]
    info = DatasetInfo(name, regions, checksum=data.checksum())
    info.region_of = np.concatenate([np.full(n, r, dtype=object) for r, n in regions])
    blocks = _raw_blocks(data)
    if blocks is None:
        info.error = f"dataset {name!r} has no raw validation repeats: no noise ceilings"
        return info
    values = {c: np.full(data.n_neurons, np.nan) for c in CEILINGS}
    for (region, block), (_, cols) in zip(blocks, info.region_slices()):
        info.repeats[region] = int(block.shape[0])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            try:
                values["cc_max"][cols] = cc_max(block)
                values["oracle_jackknife"][cols] = oracle_jackknife(block)
                values["oracle_conservative"][cols] = oracle_conservative(block)
            except ValueError as exc:  # fewer than 2 repeats or images in this region
                info.error = f"{region}: no noise ceiling ({exc})"
    info.ceilings = values
    return info


def _raw_blocks(data) -> list[tuple[str, np.ndarray]] | None:
    """Each region's (repeats, images, neurons) block, or None if the dataset has no repeats."""
    if data.raw_validation is None:
        return None
    from neuro_datasets import region_raw  # a declared dependency: knows how merged datasets pad repeats

    blocks = region_raw(data)
    if len(blocks) != len(data.regions or [None]):
        return None
    return blocks


def region_means(per_neuron: np.ndarray, info: DatasetInfo | None) -> dict[str, float]:
    """Mean correlation over each region's neurons, plus their neuron-weighted mean ("weighted")."""
    if info is None or not info.regions or sum(n for _, n in info.regions) != len(per_neuron):
        return {}
    out = {}
    for region, cols in info.region_slices():
        out[region] = nanmean(per_neuron[cols])
    out["weighted"] = neuron_weighted_mean((out[r], n) for r, n in info.regions)
    return out
