"""Test-tier scores of the field benchmark, in numpy (shared by bench_field.py and the reference
runner, which imports it from its own folder): correlation to the trial-averaged response,
single-trial correlation and fraction of oracle (Lurz et al. 2021)."""

from __future__ import annotations

import numpy as np


def correlations(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-column Pearson correlation (0 for a constant column)."""
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    norm = np.sqrt((a ** 2).sum(axis=0) * (b ** 2).sum(axis=0))
    return np.where(norm > 0, (a * b).sum(axis=0) / np.where(norm > 0, norm, 1), 0.0)


def test_scores(pred: np.ndarray, resp: np.ndarray, ids: np.ndarray) -> dict:
    """Scores of single-trial predictions ``pred`` (trials, neurons) of responses ``resp`` whose
    trials showed images ``ids`` (repeats share an id). Fraction of oracle: slope through the origin
    of the single-trial correlation against the leave-one-out oracle correlation over neurons."""
    groups = [np.flatnonzero(ids == u) for u in np.unique(ids)]
    avg_pred = np.stack([pred[g].mean(axis=0) for g in groups])
    avg_resp = np.stack([resp[g].mean(axis=0) for g in groups])
    single = correlations(pred, resp)
    loo = np.concatenate([(resp[g].sum(axis=0) - resp[g]) / (len(g) - 1) for g in groups])
    oracle = correlations(loo, np.concatenate([resp[g] for g in groups]))
    return {"test_correlation_to_average": float(correlations(avg_pred, avg_resp).mean()),
            "test_single_trial_correlation": float(single.mean()),
            "test_fraction_of_oracle": float((oracle * single).sum() / (oracle ** 2).sum())}
