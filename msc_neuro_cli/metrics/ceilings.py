"""Noise ceilings from repeated presentations, and model metrics measured against them.

Notation: ``raw`` has shape (R repeats, I images, N neurons); r_ik is the response to image i on
repeat k (one neuron); m_i = mean_k r_ik is the trial average (what ``validation_set`` holds) and
p_i a model's prediction for image i. Every function works on all neurons at once and returns one
value per neuron. A neuron whose estimate is undefined (zero variance, negative signal power
under a square root) gets NaN; use :func:`nanmean` or a NaN mode of :mod:`msc_neuro_cli.metrics.correlation`.
The formulas are those of docs/metrics.md ("Noise ceilings").
"""

from __future__ import annotations

from typing import Iterable

import numpy as np


def _raw(raw) -> np.ndarray:
    raw = np.asarray(raw, dtype=np.float64)
    if raw.ndim == 2:  # (repeats, images) of one neuron
        raw = raw[:, :, None]
    if raw.ndim != 3:
        raise ValueError(f"raw repeats must be (repeats, images, neurons), got shape {raw.shape}")
    if raw.shape[0] < 2:
        raise ValueError(f"noise ceilings need at least 2 repeats, got {raw.shape[0]}")
    if raw.shape[1] < 2:
        raise ValueError(f"noise ceilings need at least 2 images, got {raw.shape[1]}")
    if not np.all(np.isfinite(raw)):
        raise ValueError("raw repeats contain NaN or inf (split merged regions with msc_neuro_cli.metrics.scoring.region_blocks)")
    return raw


def _pred(pred, raw: np.ndarray) -> np.ndarray:
    pred = np.asarray(pred, dtype=np.float64)
    if pred.ndim == 1:
        pred = pred[:, None]
    if pred.shape != raw.shape[1:]:
        raise ValueError(f"predictions have shape {pred.shape}, raw repeats need (images, neurons) = {raw.shape[1:]}")
    return pred


def _divide(a, b):
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.asarray(a, np.float64) / np.asarray(b, np.float64)
    return np.where(np.isfinite(out), out, np.nan)


def _sqrt(a):
    a = np.asarray(a, np.float64)
    return np.where(a >= 0, np.sqrt(np.abs(a)), np.nan)


def _corr(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation per column of two (rows, neurons) arrays (NaN where undefined)."""
    dx, dy = x - x.mean(axis=0), y - y.mean(axis=0)
    return _divide((dx * dy).sum(axis=0), np.sqrt((dx * dx).sum(axis=0) * (dy * dy).sum(axis=0)))


def noise_variance(raw, ddof: int = 1) -> np.ndarray:
    """s2n = mean_i Var_k(r_ik): the trial-to-trial variance, averaged over images (ddof 1)."""
    return _raw(raw).var(axis=0, ddof=ddof).mean(axis=0)


def total_variance(raw) -> np.ndarray:
    """s2t = Var over all (i, k) pairs of r_ik (ddof 1): single-trial response variance."""
    raw = _raw(raw)
    return raw.reshape(-1, raw.shape[2]).var(axis=0, ddof=1)


def trial_average_variance(raw, ddof: int = 1) -> np.ndarray:
    """Vm = Var_i(m_i): variance over images of the trial-averaged response."""
    return _raw(raw).mean(axis=0).var(axis=0, ddof=ddof)


def explainable_variance_fraction(raw) -> np.ndarray:
    """(s2t - s2n) / s2t: the fraction of single-trial variance that the stimulus can explain."""
    s2t = total_variance(raw)
    return _divide(s2t - noise_variance(raw), s2t)


def normalised_noise_power(raw) -> np.ndarray:
    """s2n / s2t (Sahani & Linden 2003): 0 for noise-free neurons, about 1 for pure noise."""
    return _divide(noise_variance(raw), total_variance(raw))


def feve(raw, pred) -> np.ndarray:
    """Fraction of explainable variance explained, trial level.

    FEVE = 1 - (MSE_trial - s2n) / (s2t - s2n), MSE_trial = mean over (i, k) of (r_ik - p_i)^2.
    1 for a prediction equal to the true signal (up to estimation noise), 0 for predicting the mean.
    """
    raw = _raw(raw)
    pred = _pred(pred, raw)
    mse = ((raw - pred[None]) ** 2).mean(axis=(0, 1))
    s2n, s2t = noise_variance(raw), total_variance(raw)
    return 1 - _divide(mse - s2n, s2t - s2n)


def eve(raw, pred) -> np.ndarray:
    """Explainable variance explained for trial-averaged targets.

    EVE = (Vm - MSE) / (Vm - s2n / R), Vm = Var_i(m_i) (ddof 1), MSE = mean_i (m_i - p_i)^2:
    the noise of the trial average (s2n / R) is removed from the variance to explain.
    """
    raw = _raw(raw)
    pred = _pred(pred, raw)
    mse = ((raw.mean(axis=0) - pred) ** 2).mean(axis=0)
    vm = trial_average_variance(raw)
    return _divide(vm - mse, vm - noise_variance(raw) / raw.shape[0])


def oracle_jackknife(raw) -> np.ndarray:
    """Leave-one-out oracle (a lower bound of the ceiling): corr over all (i, k) of r_ik with the
    mean of the other R - 1 repeats of image i."""
    raw = _raw(raw)
    repeats = raw.shape[0]
    others = (raw.sum(axis=0, keepdims=True) - raw) / (repeats - 1)
    flat = lambda a: a.reshape(-1, a.shape[2])  # noqa: E731
    return _corr(flat(raw), flat(others))


def oracle_conservative(raw) -> np.ndarray:
    """neuralpredictors' conservative oracle: sqrt(Vm / (Vm + s2n)), Vm and s2n with ddof 0."""
    vm = trial_average_variance(raw, ddof=0)
    return _sqrt(_divide(vm, vm + noise_variance(raw, ddof=0)))


def signal_power(raw) -> np.ndarray:
    """Schoppe et al. 2016: SP = [Var_i(sum_k r_ik) - sum_k Var_i(r_ik)] / (R (R - 1)) (ddof 1).

    An unbiased estimate of the variance over images of the noise-free response; negative
    values (possible for very noisy neurons) mean no measurable signal.
    """
    raw = _raw(raw)
    repeats = raw.shape[0]
    total = raw.sum(axis=0).var(axis=0, ddof=1)
    per_trial = raw.var(axis=1, ddof=1).sum(axis=0)
    return (total - per_trial) / (repeats * (repeats - 1))


def cc_max(raw) -> np.ndarray:
    """Schoppe et al. 2016: CCmax = sqrt(SP / Var_i(m_i)), the highest correlation any model can
    reach with the trial average of these R repeats (NaN when SP <= 0)."""
    sp = signal_power(raw)
    return _sqrt(_divide(np.where(sp > 0, sp, np.nan), trial_average_variance(raw)))


def cc_abs(raw, pred) -> np.ndarray:
    """Pearson correlation of the prediction with the trial average, per neuron."""
    raw = _raw(raw)
    return _corr(_pred(pred, raw), raw.mean(axis=0))


def cc_norm(raw, pred) -> np.ndarray:
    """CCnorm = CCabs / CCmax (Schoppe et al. 2016): 1 for a prediction as good as the ceiling."""
    return _divide(cc_abs(raw, pred), cc_max(raw))


def fraction_of_oracle(model_corr, oracle_corr) -> float:
    """Slope through the origin of model correlation against oracle correlation across neurons:
    argmin_a sum_n (c_n - a o_n)^2 = sum c_n o_n / sum o_n^2 (neurons with NaN are skipped)."""
    c, o = np.asarray(model_corr, np.float64), np.asarray(oracle_corr, np.float64)
    ok = np.isfinite(c) & np.isfinite(o)
    denom = float((o[ok] ** 2).sum())
    return float((c[ok] * o[ok]).sum() / denom) if denom > 0 else float("nan")


def nanmean(values) -> float:
    """Mean over neurons ignoring NaN (NaN if nothing is left)."""
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else float("nan")


def neuron_weighted_mean(per_region: Iterable[tuple[float, int]]) -> float:
    """Sum_r v_r n_r / Sum_r n_r over (value, neurons) pairs: the thesis's cross-region average."""
    pairs = [(float(v), int(n)) for v, n in per_region if np.isfinite(v) and n > 0]
    total = sum(n for _, n in pairs)
    return sum(v * n for v, n in pairs) / total if total else float("nan")


def ceilings(raw) -> dict[str, np.ndarray]:
    """Every per-neuron noise ceiling of one region's raw repeats."""
    return {
        "noise_variance": noise_variance(raw),
        "total_variance": total_variance(raw),
        "explainable_variance_fraction": explainable_variance_fraction(raw),
        "normalised_noise_power": normalised_noise_power(raw),
        "oracle_jackknife": oracle_jackknife(raw),
        "oracle_conservative": oracle_conservative(raw),
        "cc_max": cc_max(raw),
    }


def model_scores(raw, pred) -> dict[str, np.ndarray]:
    """Per-neuron metrics of a prediction (images, neurons) against one region's raw repeats."""
    return {"cc_abs": cc_abs(raw, pred), "cc_norm": cc_norm(raw, pred), "feve": feve(raw, pred),
            "eve": eve(raw, pred)}
