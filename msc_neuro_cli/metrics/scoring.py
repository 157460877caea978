"""Scores of a run's validation predictions against its dataset's raw repeats, for run records.

The formulas live in :mod:`msc_neuro_cli.metrics.ceilings`; this module applies them region by region.
A merged multi-region dataset has block masks (each region's neurons count only on its own
validation images) and a ``raw_validation`` padded with NaN outside each region's block and
beyond its own repeat count; :func:`region_blocks` takes the blocks back apart from ``val_mask``
and ``regions`` alone, so the core needs no dataset plugin.

Per region, every per-neuron value is averaged over the region's neurons (NaN skipped); the
overall value is the neuron-weighted mean over regions (``ceilings.neuron_weighted_mean``).
``fraction_of_oracle`` and ``fraction_of_ceiling`` are slopes through the origin across a
region's neurons (``ceilings.fraction_of_oracle``) of a model correlation against its ceiling,
each pair measured against the same target:

- ``fraction_of_oracle``: ``cc_trial`` (single-trial correlation, corr over all (i, k) of r_ik
  with p_i) against the jackknife oracle (corr of r_ik with the mean of the other repeats);
- ``fraction_of_ceiling``: ``cc_abs`` (correlation with the trial average, what training
  tracks) against CCmax (the highest such correlation any model can reach).

Both are about 1 for a model that predicts the true signal.
Everything returned is JSON-ready: lists and floats, NaN written as None.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

from msc_neuro_cli.metrics import ceilings
from msc_neuro_cli.datasets.contract import Dataset
from msc_neuro_cli.errors import DatasetError
from msc_neuro_cli.metrics.correlation import summarise

CEILINGS = ("cc_max", "oracle_jackknife", "oracle_conservative", "explainable_variance_fraction",
            "noise_variance", "total_variance", "normalised_noise_power")
PER_NEURON = ("cc_abs", "cc_norm", "cc_trial", "feve", "eve")   # one value per neuron
# slope -> (model correlation, ceiling) it is taken between
SLOPES = {"fraction_of_oracle": ("cc_trial", "oracle_jackknife"), "fraction_of_ceiling": ("cc_abs", "cc_max")}
SCORES = PER_NEURON + tuple(SLOPES)


@dataclass
class RegionBlock:
    name: str
    columns: slice            # the region's neuron columns
    rows: np.ndarray          # its validation images (row indices)
    raw: np.ndarray | None    # (repeats, images, neurons) without padding; None: no ceilings
    note: str | None = None   # why ``raw`` is None


@dataclass
class DatasetCeilings:
    """Per-neuron ceilings of a dataset, region by region."""

    n_neurons: int
    blocks: list[RegionBlock]
    per_neuron: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (neurons,)

    def to_json(self) -> dict[str, Any]:
        regions = {b.name: _means(self.per_neuron, b.columns, CEILINGS) for b in self.blocks}
        return {"mean": _weighted(regions, self.blocks, CEILINGS), "regions": regions,
                # a list: the store writes JSON with sorted keys, and column order matters
                "neurons": [[b.name, _width(b.columns)] for b in self.blocks],
                "repeats": {b.name: None if b.raw is None else int(b.raw.shape[0]) for b in self.blocks},
                "notes": {b.name: b.note for b in self.blocks if b.note},
                "per_neuron": {k: _json_list(v) for k, v in self.per_neuron.items()}}


def region_blocks(data: Dataset) -> list[RegionBlock]:
    """Split a dataset's raw validation repeats into its regions (see the module docstring)."""
    raw = data.raw_validation
    n = data.n_neurons
    regions = list(data.regions) or [("region1", n)]
    if sum(int(w) for _, w in regions) != n:
        raise DatasetError(f"dataset regions {regions} do not add up to its {n} neurons")
    raw = np.asarray(raw, np.float64)
    if raw.ndim != 3 or raw.shape[1:] != data.val_y.shape:
        raise DatasetError(f"raw_validation has shape {raw.shape}, the validation responses "
                           f"{data.val_y.shape} need (repeats, {len(data.val_y)}, {n})")
    blocks, start = [], 0
    for name, width in regions:
        cols = slice(start, start + int(width))
        start += int(width)
        if data.val_mask is None:
            rows = np.arange(len(data.val_y))
        else:
            rows = np.flatnonzero(np.asarray(data.val_mask)[:, cols].any(axis=1))
        block = raw[:, rows, cols]
        block = block[[bool(np.all(np.isfinite(k))) for k in block]]  # drop padded repeats
        note = None
        if block.shape[0] < 2 or block.shape[1] < 2:
            note = f"{block.shape[0]} complete repeats of {block.shape[1]} images: no noise ceilings"
            block = None
        blocks.append(RegionBlock(str(name), cols, rows, block, note))
    return blocks


def dataset_ceilings(data: Dataset) -> DatasetCeilings | None:
    """Per-neuron ceilings of every region, or None for a dataset without repeats."""
    if data.raw_validation is None:
        return None
    blocks = region_blocks(data)
    per_neuron = {k: np.full(data.n_neurons, np.nan) for k in CEILINGS}
    for block in blocks:
        if block.raw is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                for key, values in ceilings.ceilings(block.raw).items():
                    per_neuron[key][block.columns] = values
    return DatasetCeilings(data.n_neurons, blocks, per_neuron)


def cc_trial(raw: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Single-trial correlation per neuron: corr over all (i, k) of r_ik with p_i (NaN if undefined)."""
    raw = np.asarray(raw, np.float64)
    pred = np.broadcast_to(np.asarray(pred, np.float64)[None], raw.shape).reshape(-1, raw.shape[2])
    return ceilings._corr(raw.reshape(-1, raw.shape[2]), pred)


def score(ceil: DatasetCeilings, pred: np.ndarray) -> dict[str, Any]:
    """One repetition's validation predictions (images, neurons) scored region by region.

    Returns ``scores`` (overall), ``scores_per_region`` and ``scores_per_neuron`` (PER_NEURON).
    """
    pred = np.asarray(pred, np.float64)
    per_neuron = {k: np.full(ceil.n_neurons, np.nan) for k in PER_NEURON}
    regions: dict[str, dict[str, float]] = {}
    for block in ceil.blocks:
        if block.raw is None:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            region_pred = pred[block.rows][:, block.columns]
            values = ceilings.model_scores(block.raw, region_pred)
            values["cc_trial"] = cc_trial(block.raw, region_pred)
        for key, v in values.items():
            per_neuron[key][block.columns] = v
        regions[block.name] = _means(per_neuron, block.columns, PER_NEURON)
        for key, (model, ceiling) in SLOPES.items():
            regions[block.name][key] = _finite(ceilings.fraction_of_oracle(
                per_neuron[model][block.columns], ceil.per_neuron[ceiling][block.columns]))
    scored = [b for b in ceil.blocks if b.name in regions]
    return {"scores": _weighted(regions, scored, SCORES), "scores_per_region": regions,
            "scores_per_neuron": {k: _json_list(v) for k, v in per_neuron.items()}}


def score_replicas(data: Dataset, predictions: np.ndarray) -> list[dict[str, Any]]:
    """What the worker adds to each repetition's result, for predictions (R, images, neurons).

    ``{}`` per repetition for datasets without repeats; ``{"scores_error": ...}`` when the
    dataset's repeats cannot be split (training results are kept either way).
    """
    try:
        ceil = dataset_ceilings(data)
    except DatasetError as exc:
        return [{"scores_error": str(exc)} for _ in predictions]
    if ceil is None:
        return [{} for _ in predictions]
    table = ceil.to_json()
    return [{**score(ceil, p), "ceilings": table} for p in predictions]


def summarise_reps(reps: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Record keys from repetition results: ceilings, scores summarised over repetitions.

    ``{}`` when no repetition was scored (no repeats, or results of an older version).
    """
    scored = [r for r in reps if r.get("scores")]
    if not scored:
        return {}
    regions = list(scored[0].get("scores_per_region") or {})
    out = {
        "ceilings": scored[0].get("ceilings"),
        "scores": {k: _summary(r["scores"].get(k) for r in scored) for k in SCORES},
        "scores_per_region": {reg: {k: _summary((r.get("scores_per_region") or {}).get(reg, {}).get(k)
                                                for r in scored) for k in SCORES} for reg in regions},
    }
    out["fraction_of_ceiling"] = out["scores"]["fraction_of_ceiling"]
    return out


# --- helpers ---------------------------------------------------------------------------------
def _width(cols: slice) -> int:
    return cols.stop - cols.start


def _finite(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _json_list(values: np.ndarray) -> list[float | None]:
    return [_finite(v) for v in np.asarray(values, np.float64)]


def _means(per_neuron: dict[str, np.ndarray], cols: slice, keys) -> dict[str, float | None]:
    return {k: _finite(ceilings.nanmean(per_neuron[k][cols])) for k in keys if k in per_neuron}


def _weighted(regions: dict[str, dict], blocks: list[RegionBlock], keys) -> dict[str, float | None]:
    def value(region, key):
        v = regions[region].get(key)
        return math.nan if v is None else v
    return {k: _finite(ceilings.neuron_weighted_mean((value(b.name, k), _width(b.columns)) for b in blocks))
            for k in keys}


def _summary(values) -> dict[str, float | None]:
    """metrics.summarise over the finite values (None where none is left)."""
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return {k: (v if k == "n" else _finite(v)) for k, v in summarise(finite).items()}
