"""Numbers behind the figures and tables: quantiles over repetitions, marginals, significance tests.

Quantiles follow the thesis pipeline's ``analysis_graph.get_metrics_runs``: at every summary step, over the
repetitions of a run, (top, bottom, middle, extra) = 90/10/50/25 with ``median_mode`` (what the
thesis figures used) and 95/5/75/25 without it. Percentiles use numpy's default (linear) rule, as
pandas' ``quantile`` which the thesis pipeline called.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from msc_neuro_cli.api import fraction_of_oracle

MEDIAN_MODE = (90.0, 10.0, 50.0, 25.0)
DEFAULT_MODE = (95.0, 5.0, 75.0, 25.0)


def quantile_set(median_mode: bool = True) -> tuple[float, float, float, float]:
    return MEDIAN_MODE if median_mode else DEFAULT_MODE


def curve_quantiles(curves: pd.DataFrame, quantiles=MEDIAN_MODE, value: str = "val_correlation") -> pd.DataFrame:
    """Per (run_id, epoch): top, bottom, mid, extra quantiles of ``value`` over repetitions, and n.

    ``curves`` has one row per (run_id, rep, epoch). Steps that only some repetitions logged use
    the repetitions that have them (n says how many).
    """
    top, bottom, mid, extra = quantiles
    rows = []
    for (run_id, epoch), group in curves.dropna(subset=[value]).groupby(["run_id", "epoch"], sort=True):
        v = group[value].to_numpy(np.float64)
        rows.append({"run_id": run_id, "epoch": int(epoch), "top": np.percentile(v, top),
                     "bottom": np.percentile(v, bottom), "mid": np.percentile(v, mid),
                     "extra": np.percentile(v, extra), "n": len(v)})
    return pd.DataFrame(rows, columns=["run_id", "epoch", "top", "bottom", "mid", "extra", "n"])


def final_quantiles(values, quantiles=MEDIAN_MODE) -> dict[str, float]:
    """The thesis pipeline's ``summarize_experiments`` (mid, top, bottom) of final correlations over repetitions."""
    v = np.asarray(list(values), np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"mid": math.nan, "top": math.nan, "bottom": math.nan, "n": 0}
    top, bottom, mid, _ = quantiles
    return {"mid": float(np.percentile(v, mid)), "top": float(np.percentile(v, top)),
            "bottom": float(np.percentile(v, bottom)), "n": int(v.size)}


def fraction_of_ceiling(per_neuron: np.ndarray, ceiling: np.ndarray) -> float:
    """Slope through the origin of model correlation against the ceiling across neurons."""
    return fraction_of_oracle(per_neuron, ceiling)


def mann_whitney(a, b) -> tuple[float, float]:
    """Two-sided Mann-Whitney U test of two samples of final correlations: (U of ``a``, p).

    NaN when either sample is empty; p = 1 when every value is tied (no evidence either way).
    """
    from scipy.stats import mannwhitneyu

    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size == 0 or b.size == 0:
        return math.nan, math.nan
    if np.unique(np.concatenate([a, b])).size == 1:
        return float(a.size * b.size / 2), 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = mannwhitneyu(a, b, alternative="two-sided")
    return float(result.statistic), float(result.pvalue)


def grid_axes(runs: pd.DataFrame) -> list[str]:
    """Hyperparameter columns (``hp_*``) that take at least two values among the runs."""
    axes = []
    for col in (c for c in runs.columns if c.startswith("hp_")):
        if runs[col].astype(str).nunique() >= 2:
            axes.append(col)
    return axes


def marginal(runs: pd.DataFrame, axis: str, value: str = "val_correlation") -> list[tuple[str, np.ndarray]]:
    """(axis value, all repetitions' ``value`` at that value, every other axis pooled), in value order."""
    keys = runs[axis]
    groups = []
    for key in _ordered(keys.dropna().unique()):
        vals = runs.loc[keys == key, value].to_numpy(np.float64)
        groups.append((_fmt(key), vals[np.isfinite(vals)]))
    return groups


def _ordered(values) -> list:
    try:
        return sorted(values, key=lambda v: (0, float(v)))
    except (TypeError, ValueError):
        return sorted(values, key=str)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
