"""Per-run summary rows shared by ``neuro report`` and ``neuro compare``.

A row holds the run's final validation correlation over repetitions (the thesis pipeline's mid/top/bottom
quantiles), median training seconds, the fraction of the noise ceiling (median over repetitions
of the per-neuron slope) and, for multi-region datasets, each region's mean correlation. On the
test tier (``tier="test"``) the final value is the test correlation to the trial average, and the
ceiling columns are the test tier's own: single-trial correlation, FEVE and fraction of oracle.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import stats
from .loading import Run, test_score
from .neurons import DEFAULT_CEILING, dataset_info, region_means


def ceiling_fractions(run: Run, ceiling: str = DEFAULT_CEILING) -> np.ndarray:
    """Fraction of ceiling of each repetition (empty if the run has no per-neuron data or ceilings)."""
    info = dataset_info(run.spec, run.record)
    values = info.ceilings.get(ceiling) if info is not None else None
    if values is None:
        return np.array([])
    out = [stats.fraction_of_ceiling(r.val_per_neuron, values) for r in run.reps
           if r.val_per_neuron is not None and len(r.val_per_neuron) == len(values)]
    return np.asarray(out, np.float64)


def region_values(run: Run) -> dict[str, np.ndarray]:
    """Region -> per-repetition mean correlation over its neurons (plus "weighted"); {} for one region."""
    info = dataset_info(run.spec, run.record)
    if info is None or len(info.regions) < 2:
        return {}
    per: dict[str, list[float]] = {}
    for rep in run.reps:
        if rep.val_per_neuron is None:
            continue
        for region, value in region_means(rep.val_per_neuron, info).items():
            per.setdefault(region, []).append(value)
    return {k: np.asarray(v) for k, v in per.items()}


def mid_label(qset) -> str:
    return "median" if qset[2] == 50 else f"p{qset[2]:g}"


# Test-tier columns beside the correlation: (column, record key), medians over repetitions.
TEST_COLUMNS = (("single-trial", "single_trial_correlation"), ("FEVE", "feve"),
                ("fraction of oracle", "fraction_of_oracle"))


def run_row(run: Run, qset=stats.MEDIAN_MODE, ceiling: str = DEFAULT_CEILING,
            tier: str = "validation") -> dict[str, Any]:
    top, bottom, mid, _ = qset
    final = stats.final_quantiles(run.finals(tier), qset)
    seconds = [r.seconds for r in run.reps if r.seconds is not None]
    epochs = [r.epochs for r in run.reps if r.epochs is not None]
    row: dict[str, Any] = {
        "run": run.run_id, "name": run.name, "source": run.source, "reps": final["n"],
        mid_label(qset): final["mid"], f"p{top:g}": final["top"], f"p{bottom:g}": final["bottom"],
    }
    regions: dict[str, np.ndarray] = {}
    if tier == "test":
        for column, key in TEST_COLUMNS:
            row[column] = stats.final_quantiles([test_score(r, key) for r in run.reps])["mid"]  # NaN-free median
    else:
        fractions = ceiling_fractions(run, ceiling)
        row["fraction of ceiling"] = float(np.median(fractions)) if fractions.size else math.nan
        regions = region_values(run)  # means of the validation tier's per-neuron correlations
    row["epochs"] = int(max(epochs)) if epochs else None
    row["train seconds"] = float(np.median(seconds)) if seconds else math.nan
    for region, values in regions.items():
        row[region] = float(np.median(values)) if values.size else math.nan
    return row
