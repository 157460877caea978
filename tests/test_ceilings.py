"""Noise ceilings: hand-checked small cases, analytic limits on constructed data, real repeats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from msc_neuro_cli.metrics import ceilings as c

ANTOLIK = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "antolik2016" / "Data"

# One neuron, 2 repeats x 3 images: image 0 -> {1, 3}, image 1 -> {2, 2}, image 2 -> {4, 6}.
HAND = np.array([[1.0, 2.0, 4.0], [3.0, 2.0, 6.0]])
HAND_MEAN = np.array([2.0, 2.0, 5.0])


class TestHandChecked:
    def test_variances(self):
        assert c.noise_variance(HAND)[0] == pytest.approx(4 / 3)  # (2 + 0 + 2) / 3
        assert c.total_variance(HAND)[0] == pytest.approx(16 / 5)  # values 1,2,4,3,2,6: SS 16, ddof 1
        assert c.explainable_variance_fraction(HAND)[0] == pytest.approx(7 / 12)
        assert c.normalised_noise_power(HAND)[0] == pytest.approx(5 / 12)

    def test_oracles(self):
        # Jackknife with R = 2 pairs each trial with the other one: r = 8 / 16.
        assert c.oracle_jackknife(HAND)[0] == pytest.approx(0.5)
        # Vm (ddof 0) = 2, s2n (ddof 0) = 2/3.
        assert c.oracle_conservative(HAND)[0] == pytest.approx(np.sqrt(0.75))

    def test_schoppe(self):
        # Var(sum) = Var([4, 4, 10]) = 12; Var(r1) = 7/3; Var(r2) = 13/3 -> SP = (12 - 20/3) / 2.
        assert c.signal_power(HAND)[0] == pytest.approx(8 / 3)
        assert c.cc_max(HAND)[0] == pytest.approx(np.sqrt(8 / 9))  # Var(mean) = 3
        assert c.cc_norm(HAND, HAND_MEAN)[0] == pytest.approx(1 / np.sqrt(8 / 9))

    def test_feve_and_eve(self):
        # MSE_trial = 4/6 -> 1 - (2/3 - 4/3) / (16/5 - 4/3) = 1 + 10/28.
        assert c.feve(HAND, HAND_MEAN)[0] == pytest.approx(1 + 10 / 28)
        # MSE = 0; Vm = 3; s2n / R = 2/3 -> 3 / (7/3).
        assert c.eve(HAND, HAND_MEAN)[0] == pytest.approx(9 / 7)
        assert c.eve(HAND, np.full(3, 3.0))[0] == pytest.approx((3 - 2) / (7 / 3))  # MSE = (1+1+4)/3

    def test_fraction_of_oracle_and_weighting(self):
        assert c.fraction_of_oracle([0.2, 0.4, np.nan], [0.4, 0.8, 0.5]) == pytest.approx(0.5)
        assert c.fraction_of_oracle([0.1, 0.3], [0.5, 0.5]) == pytest.approx(0.4)
        assert c.neuron_weighted_mean([(0.479, 103), (0.412, 55), (0.437, 102)]) == pytest.approx(
            (0.479 * 103 + 0.412 * 55 + 0.437 * 102) / 260)

    def test_bad_input(self):
        with pytest.raises(ValueError, match="2 repeats"):
            c.noise_variance(np.ones((1, 5, 2)))
        with pytest.raises(ValueError, match="NaN"):
            c.noise_variance(np.array([[1, np.nan], [2, 3.0]]))
        with pytest.raises(ValueError, match="predictions"):
            c.feve(HAND, np.ones(4))

    def test_undefined_is_nan(self):
        flat = np.ones((3, 4, 1))
        assert np.isnan(c.explainable_variance_fraction(flat)[0])
        pure_noise = np.array([[1.0, 0.0], [0.0, 1.0]])  # SP < 0
        assert np.isnan(c.cc_max(pure_noise)[0])


@pytest.fixture(scope="module")
def constructed():
    """Signal with variance vs plus Gaussian noise of variance vn, many images so estimates converge."""
    rng = np.random.default_rng(0)
    repeats, images = 8, 20000
    vs = np.array([1.0, 0.5, 0.2, 2.0])
    vn = np.array([1.0, 2.0, 0.2, 0.5])
    signal = rng.normal(3.0, 1.0, (images, 4)) * np.sqrt(vs)
    raw = signal[None] + rng.normal(0, 1, (repeats, images, 4)) * np.sqrt(vn)
    return raw, signal, vs, vn, repeats


class TestAnalytic:
    def test_variances(self, constructed):
        raw, _, vs, vn, _ = constructed
        np.testing.assert_allclose(c.noise_variance(raw), vn, rtol=0.02)
        np.testing.assert_allclose(c.total_variance(raw), vs + vn, rtol=0.03)
        np.testing.assert_allclose(c.explainable_variance_fraction(raw), vs / (vs + vn), atol=0.015)
        np.testing.assert_allclose(c.normalised_noise_power(raw), vn / (vs + vn), atol=0.015)
        np.testing.assert_allclose(c.signal_power(raw), vs, rtol=0.04)

    def test_oracles_and_ccmax(self, constructed):
        raw, signal, vs, vn, r = constructed
        jack = vs / np.sqrt((vs + vn) * (vs + vn / (r - 1)))
        np.testing.assert_allclose(c.oracle_jackknife(raw), jack, atol=0.01)
        vm = vs + vn / r
        # ddof 0 over R repeats estimates the noise variance as vn (R - 1) / R.
        np.testing.assert_allclose(c.oracle_conservative(raw), np.sqrt(vm / (vm + vn * (r - 1) / r)), atol=0.01)
        truth = np.sqrt(vs / (vs + vn / r))  # corr(true signal, trial average)
        np.testing.assert_allclose(c.cc_max(raw), truth, atol=0.01)
        np.testing.assert_allclose(c.cc_abs(raw, signal), truth, atol=0.01)
        np.testing.assert_allclose(c.cc_norm(raw, signal), 1.0, atol=0.02)

    def test_feve_eve_of_a_noisy_prediction(self, constructed):
        raw, signal, vs, vn, _ = constructed
        ve = 0.25 * vs  # prediction = signal + independent error of variance ve
        pred = signal + np.random.default_rng(1).normal(0, 1, signal.shape) * np.sqrt(ve)
        np.testing.assert_allclose(c.feve(raw, pred), 1 - ve / vs, atol=0.03)
        np.testing.assert_allclose(c.eve(raw, pred), 1 - ve / vs, atol=0.03)
        np.testing.assert_allclose(c.feve(raw, signal), 1.0, atol=0.03)
        constant = np.broadcast_to(raw.mean(axis=(0, 1)), signal.shape)
        np.testing.assert_allclose(c.feve(raw, constant), 0.0, atol=0.03)

    def test_independent_numpy_jackknife(self, constructed):
        raw = constructed[0][:, :300, :2]
        r = raw.shape[0]
        for n in range(2):
            x, y = [], []
            for i in range(raw.shape[1]):
                for k in range(r):
                    x.append(raw[k, i, n])
                    y.append(np.delete(raw[:, i, n], k).mean())
            assert c.oracle_jackknife(raw)[n] == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-12)


@pytest.mark.skipif(not ANTOLIK.exists(), reason="shared Antolik data not present")
@pytest.mark.parametrize("region,repeats,neurons", [(1, 10, 103), (2, 8, 55), (3, 12, 102)])
def test_real_antolik_repeats(region, repeats, neurons):
    raw = np.load(ANTOLIK / f"region{region}/raw_validation_set.npy", allow_pickle=False)
    val = np.load(ANTOLIK / f"region{region}/validation_set.npy", allow_pickle=False)
    assert raw.shape == (repeats, 50, neurons)
    np.testing.assert_allclose(val, raw.mean(axis=0), rtol=1e-12, atol=1e-12)
    nnp = c.normalised_noise_power(raw)
    evf = c.explainable_variance_fraction(raw)
    np.testing.assert_allclose(nnp + evf, 1.0, atol=1e-12)
    assert 0.6 < np.nanmedian(nnp) < 0.95  # mouse V1 two-photon single trials are noisy
    jack, cons, ccmax = c.oracle_jackknife(raw), c.oracle_conservative(raw), c.cc_max(raw)
    assert 0.2 < c.nanmean(jack) < 0.6
    assert np.all(cons >= jack - 1e-9)  # the jackknife is the lower bound
    # Two estimates of the signal variance agree across neurons: s2t - s2n and Schoppe's SP.
    assert np.corrcoef(c.total_variance(raw) - c.noise_variance(raw), c.signal_power(raw))[0, 1] > 0.95
    assert 0.5 < c.nanmean(ccmax) < 0.95
    # CCmax is the best any prediction can do: the trial average's own leave-one-out estimate of the
    # signal scores CCnorm <= about 1, and predicting the trial average itself gives CCabs = 1.
    np.testing.assert_allclose(c.cc_abs(raw, val), 1.0, atol=1e-12)
    # EVE of the trial average as prediction: MSE = 0 -> Vm / (Vm - s2n/R), >= 1 where Vm > s2n/R.
    vm1 = raw.mean(axis=0).var(axis=0, ddof=1)
    has_signal = vm1 > raw.var(axis=0, ddof=1).mean(axis=0) / repeats
    assert has_signal.mean() > 0.5
    assert np.all(c.eve(raw, val)[has_signal] >= 1)
    # Conservative oracle from its definition with numpy only.
    vm = raw.mean(axis=0).var(axis=0)
    s2n = raw.var(axis=0).mean(axis=0)
    np.testing.assert_allclose(cons, np.sqrt(vm / (vm + s2n)), rtol=1e-12)
