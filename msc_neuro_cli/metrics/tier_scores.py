"""Scores of a model on a dataset's test tier (single trials, repeats grouped by image id).

Per neuron, then averaged over neurons (NaN skipped):

- ``correlation``: Pearson correlation over images of the trial-averaged response with the
  trial-averaged prediction (every trial of each image);
- ``single_trial_correlation``: Pearson correlation over all test trials of response and prediction;
- with at least 2 repeats of every image, on the first R trials of each image (R the smallest
  repeat count), as :mod:`.ceilings` defines them: ``feve`` (fraction of explainable variance
  explained, averaged over the ``feve_neurons`` neurons whose explainable-variance fraction is at
  least FEVE_MIN_EXPLAINABLE: below it the denominator s2t - s2n is near zero or negative, and one
  such neuron can move the mean by orders of magnitude), ``oracle`` (leave-one-out oracle
  correlation) and ``fraction_of_oracle`` (the least-squares slope through the origin of each
  neuron's single-trial correlation against its oracle correlation, Lurz et al. 2021).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from msc_neuro_cli.metrics import ceilings
from msc_neuro_cli.metrics.scoring import cc_trial

FEVE_MIN_EXPLAINABLE = 0.15  # explainable-variance fraction a neuron needs to count in the FEVE mean


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def image_groups(image_ids: np.ndarray | None, rows: int) -> list[np.ndarray]:
    """Row indices of each image's trials, images in order of first appearance (no ids: one row each)."""
    if image_ids is None:
        return [np.array([i]) for i in range(rows)]
    ids = np.asarray(image_ids)
    unique = list(dict.fromkeys(ids.tolist()))
    return [np.flatnonzero(ids == u) for u in unique]


def score_test_tier(y: np.ndarray, pred: np.ndarray, image_ids: np.ndarray | None) -> dict[str, Any]:
    """Scores of one replica's predictions (trials, neurons) against the test tier's responses."""
    y, pred = np.asarray(y, np.float64), np.asarray(pred, np.float64)
    groups = image_groups(image_ids, len(y))
    averaged = ceilings._corr(np.stack([y[g].mean(axis=0) for g in groups]),
                              np.stack([pred[g].mean(axis=0) for g in groups]))
    single = ceilings._corr(y, pred)
    out = {"trials": int(len(y)), "images": len(groups),
           "correlation": _finite(ceilings.nanmean(averaged)),
           "single_trial_correlation": _finite(ceilings.nanmean(single)),
           "correlation_per_neuron": [_finite(v) for v in averaged]}
    repeats = min(len(g) for g in groups)
    if repeats >= 2 and len(groups) >= 2:
        kept = [g[:repeats] for g in groups]
        raw = np.stack([y[g] for g in kept], axis=1)  # (repeats, images, neurons)
        pred_images = np.stack([pred[g].mean(axis=0) for g in kept])
        oracle = ceilings.oracle_jackknife(raw)
        explained = ceilings.explainable_variance_fraction(raw) >= FEVE_MIN_EXPLAINABLE
        out.update({"repeats": repeats, "feve_neurons": int(explained.sum()),
                    "feve": _finite(ceilings.nanmean(ceilings.feve(raw, pred_images)[explained])),
                    "oracle": _finite(ceilings.nanmean(oracle)),
                    "fraction_of_oracle": _finite(ceilings.fraction_of_oracle(cc_trial(raw, pred_images), oracle))})
    return out


TIER_METRICS = ("correlation", "single_trial_correlation", "feve", "fraction_of_oracle")


def summarise_test(reps: list[dict[str, Any]]) -> dict[str, Any]:
    """The run record's ``test`` entry: each metric's median and 90th/10th percentiles over repetitions."""
    from msc_neuro_cli.metrics.correlation import summarise

    tiers = [r["test"] for r in reps if r.get("test")]
    if not tiers:
        return {}
    out = {}
    for key in TIER_METRICS:
        values = [t[key] for t in tiers if t.get(key) is not None]
        if values:
            out[key] = summarise(values)
    return {"test": out}
