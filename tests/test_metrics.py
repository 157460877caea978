"""Per-neuron correlation and its NaN modes against an independent computation (np.corrcoef)."""

from __future__ import annotations

import numpy as np
import pytest

from msc_neuro_cli.metrics.correlation import mean_correlation, per_neuron_correlation, summarise


def _data(rows=200, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.poisson(3.0, size=(rows, 5)).astype(float)
    pred = y + rng.normal(size=y.shape) * np.array([0.5, 1.0, 2.0, 4.0, 8.0])
    y[:, 3] = 2.0                      # a silent neuron: correlation undefined
    y[:, 4] = 5.0 + 1e-7 * rng.normal(size=rows)  # std < 1e-5: dropped by filter-low-std-gold
    return y, pred


def test_matches_corrcoef_and_each_nan_mode():
    y, pred = _data()
    expected = np.array([np.corrcoef(y[:, n], pred[:, n])[0, 1] for n in range(3)])
    zero = per_neuron_correlation(y, pred, mode="zero-NaNs")
    np.testing.assert_allclose(zero[:3], expected, rtol=1e-12)
    assert zero[3] == 0.0
    filt = per_neuron_correlation(y, pred, mode="filter-NaNs")
    assert np.isnan(filt[3]) and np.isfinite(filt[4])
    low = per_neuron_correlation(y, pred, mode="filter-low-std-gold")
    assert np.isnan(low[3]) and np.isnan(low[4])
    np.testing.assert_allclose(low[:3], expected, rtol=1e-12)
    assert mean_correlation(low) == pytest.approx(expected.mean())



@pytest.mark.parametrize("mode", ["zero-NaNs", "filter-NaNs", "filter-low-std-gold"])
def test_column_blocks_give_the_whole_array_result(monkeypatch, mode):
    """Large arrays are scored a few columns at a time (bounded memory): the same numbers, masks
    and NaN modes included, as one block over every column."""
    from msc_neuro_cli.metrics import correlation

    y, pred = _data()
    mask = (np.random.default_rng(1).random(y.shape) > 0.2).astype(float)
    whole = per_neuron_correlation(y, pred, mask, mode=mode)
    monkeypatch.setattr(correlation, "BLOCK_VALUES", 2 * len(y))  # 2 columns per block: 3 blocks
    blocked = per_neuron_correlation(y, pred, mask, mode=mode)
    np.testing.assert_allclose(blocked, whole, rtol=1e-12, atol=1e-15)  # vector widths may round differently
    expected = [np.corrcoef(y[mask[:, n] > 0, n], pred[mask[:, n] > 0, n])[0, 1] for n in range(3)]
    np.testing.assert_allclose(blocked[:3], expected, rtol=1e-12)

def test_mask_restricts_rows():
    y, pred = _data()
    mask = np.zeros_like(y)
    mask[:120, :] = 1.0
    expected = np.array([np.corrcoef(y[:120, n], pred[:120, n])[0, 1] for n in range(3)])
    np.testing.assert_allclose(per_neuron_correlation(y, pred, mask)[:3], expected, rtol=1e-12)


def test_unknown_mode_and_summaries():
    y, pred = _data()
    with pytest.raises(ValueError, match="unknown correlation NaN mode"):
        per_neuron_correlation(y, pred, mode="drop")
    values = [0.1, 0.5, 0.3, 0.9, 0.7]
    assert summarise(values) == {"median": 0.5, "p90": pytest.approx(np.percentile(values, 90)),
                                 "p10": pytest.approx(np.percentile(values, 10)), "n": 5}
