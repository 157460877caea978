"""Prediction metrics and summaries over repetitions.

Per-neuron Pearson correlation follows the thesis pipeline's correlation tracking (NDN3 fork, branch
``corr``): r_n = sum m(x - x̄)(y - ȳ) / (sqrt(sum m(x - x̄)^2) sqrt(sum m(y - ȳ)^2)) over the rows
where the mask m is 1, with x̄ = sum(m x) / sum(m). Non-finite values are handled by mode:

- ``zero-NaNs``: set to 0 (the thesis pipeline's default, ``hsm.log_correlation``);
- ``filter-NaNs``: dropped (NaN in the returned array, ignored by :func:`mean_correlation`);
- ``filter-low-std-gold``: also drops neurons whose recorded response has std < 1e-5.
"""

from __future__ import annotations

import numpy as np

NAN_MODES = ("zero-NaNs", "filter-NaNs", "filter-low-std-gold")
BLOCK_VALUES = 1 << 20  # values per column block of per_neuron_correlation (8 MB in float64)


def _check_mode(mode: str) -> None:
    if mode not in NAN_MODES:
        raise ValueError(f"unknown correlation NaN mode {mode!r} (known: {', '.join(NAN_MODES)})")


def _masked_moments(y_true, y_pred, mask):
    """Per column: masked count, means, and centred sums of squares and cross products."""
    y_true = np.asarray(y_true, np.float64)
    y_pred = np.asarray(y_pred, np.float64)
    m = np.ones_like(y_true) if mask is None else np.asarray(mask, np.float64)
    count = m.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_t = (m * y_true).sum(axis=0) / count
        mean_p = (m * y_pred).sum(axis=0) / count
        dt, dp = y_true - mean_t, y_pred - mean_p
        return (count, mean_t, mean_p, (m * dt * dt).sum(axis=0), (m * dp * dp).sum(axis=0),
                (m * dt * dp).sum(axis=0))


def _correlation(cov, var_t, var_p, count, mode: str) -> np.ndarray:
    """Pearson correlation from centred sums, with the NaN handling of ``mode``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / (np.sqrt(var_t) * np.sqrt(var_p))
        bad = ~np.isfinite(corr)
        if mode == "zero-NaNs":
            return np.where(bad, 0.0, corr)
        corr = np.where(bad, np.nan, corr)
        if mode == "filter-low-std-gold":
            corr = np.where(np.sqrt(var_t / count) < 1e-5, np.nan, corr)
    return corr


def per_neuron_correlation(y_true: np.ndarray, y_pred: np.ndarray, mask: np.ndarray | None = None,
                           mode: str = "zero-NaNs") -> np.ndarray:
    """Correlation per column of (rows, neurons) arrays; returns (neurons,).

    Columns are independent, so they are scored in blocks of about BLOCK_VALUES values: the float64
    temporaries of a whole (4472, 1000) training set took about 250 MB at once, the peak of a
    conv model's run at R = 4 (docs/performance.md). The same results to float64 rounding."""
    _check_mode(mode)
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.ndim != 2:
        count, _, _, var_t, var_p, cov = _masked_moments(y_true, y_pred, mask)
        return _correlation(cov, var_t, var_p, count, mode)
    if mask is not None:
        mask = np.broadcast_to(np.asarray(mask), y_true.shape)
    width = max(1, BLOCK_VALUES // max(1, y_true.shape[0]))
    blocks = []
    for lo in range(0, y_true.shape[1], width):
        cols = slice(lo, lo + width)
        count, _, _, var_t, var_p, cov = _masked_moments(y_true[:, cols], y_pred[:, cols],
                                                         None if mask is None else mask[:, cols])
        blocks.append(_correlation(cov, var_t, var_p, count, mode))
    return np.concatenate(blocks) if blocks else np.zeros((0,))


def mean_correlation(corr: np.ndarray) -> float:
    """Mean over neurons, ignoring neurons dropped by a filter mode (0.0 if none is left)."""
    corr = np.asarray(corr, np.float64)
    finite = corr[np.isfinite(corr)]
    return float(finite.mean()) if finite.size else 0.0


def summarise(values) -> dict[str, float]:
    """Median and 90th/10th percentiles over repetitions, as the thesis reports them."""
    v = np.asarray(list(values), np.float64)
    if v.size == 0:
        return {"median": float("nan"), "p90": float("nan"), "p10": float("nan"), "n": 0}
    return {"median": float(np.median(v)), "p90": float(np.percentile(v, 90)),
            "p10": float(np.percentile(v, 10)), "n": int(v.size)}


class CorrelationAccumulator:
    """:func:`per_neuron_correlation` over rows given in blocks (data too large to hold at once).

    Keeps per neuron the masked count, means and centred sums of squares and cross products, and
    merges each block's into them with the pairwise update of Chan et al. (weights = mask). This
    is the same Pearson correlation as from the raw sums of x, y, x², y² and xy, without their
    cancellation when a mean is large against the spread. Results match the one-pass-over-memory
    function to float64 rounding, NaN modes included.
    """

    def __init__(self, n_neurons: int):
        shape = (n_neurons,)
        self.count = np.zeros(shape)
        self.mean_t, self.mean_p = np.zeros(shape), np.zeros(shape)
        self.m2_t, self.m2_p, self.co = np.zeros(shape), np.zeros(shape), np.zeros(shape)

    def add(self, y_true: np.ndarray, y_pred: np.ndarray, mask: np.ndarray | None = None) -> None:
        """Add a block of rows (rows, neurons)."""
        n_b, mt_b, mp_b, m2t_b, m2p_b, co_b = _masked_moments(y_true, y_pred, mask)
        with np.errstate(invalid="ignore", divide="ignore"):
            total = self.count + n_b
            frac = n_b / total
            cross = self.count * frac  # count_a * n_b / total
            d_t, d_p = mt_b - self.mean_t, mp_b - self.mean_p
            take = n_b > 0  # neurons with no masked-in row in this block keep their sums
            self.mean_t = np.where(take, self.mean_t + d_t * frac, self.mean_t)
            self.mean_p = np.where(take, self.mean_p + d_p * frac, self.mean_p)
            self.m2_t = np.where(take, self.m2_t + m2t_b + d_t * d_t * cross, self.m2_t)
            self.m2_p = np.where(take, self.m2_p + m2p_b + d_p * d_p * cross, self.m2_p)
            self.co = np.where(take, self.co + co_b + d_t * d_p * cross, self.co)
        self.count = total

    def result(self, mode: str = "zero-NaNs") -> np.ndarray:
        """(neurons,) correlations with the NaN handling of :func:`per_neuron_correlation`."""
        _check_mode(mode)
        empty = self.count == 0  # as in memory: 0/0 means make every sum NaN
        blank = lambda a: np.where(empty, np.nan, a)  # noqa: E731
        return _correlation(blank(self.co), blank(self.m2_t), blank(self.m2_p), self.count, mode)
