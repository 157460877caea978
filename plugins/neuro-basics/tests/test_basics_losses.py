"""Losses, activations and initialisers against numpy."""

import numpy as np
import pytest

from msc_neuro_cli.api import installed_registries as registries

COMP = registries().components


def numpy_poisson(y, p, m, mean):
    """NDN3: -sum_{t,n} [y log(p + 1e-6) - p] / max(mean_n T, 1e-8), y and p masked, T = rows fed."""
    out = []
    for r in range(y.shape[0]):
        rows = int(np.sum(m[r].max(axis=1)))
        total = 0.0
        for n in range(y.shape[2]):
            ym, pm = y[r, :, n] * m[r, :, n], p[r, :, n] * m[r, :, n]
            total += np.sum(ym * np.log(pm + 1e-6) - pm) / max(mean[n] * rows, 1e-8)
        out.append(-total)
    return np.array(out)


def _counts_and_rates(seed, R=2, B=6, N=5):
    """Poisson counts y, positive predictions p and an all-ones mask, (R, B, N) each."""
    rng = np.random.default_rng(seed)
    y = rng.poisson(2.0, size=(R, B, N)).astype(np.float32)
    p = rng.uniform(0.1, 3.0, size=(R, B, N)).astype(np.float32)
    return y, p, np.ones((R, B, N), np.float32)


def test_poisson_with_normalisation_padding_and_region_mask():
    y, p, mask = _counts_and_rates(0)
    mask[:, :3, 3:] = 0   # rows 0-2 belong to region A (neurons 0-2) only
    mask[:, 3:, :3] = 0   # rows 3-5 to region B (neurons 3-4)
    mask[1, 5, :] = 0     # replica 1's last row is padding of a partial batch
    mean = np.array([1.5, 2.0, 0.5, 3.0, 0.0], np.float32)  # a silent neuron hits the 1e-8 floor
    got = COMP.losses.get("poisson")(y, p, mask, mean).numpy()
    np.testing.assert_allclose(got, numpy_poisson(y, p, mask, mean), rtol=1e-5)


def test_gaussian_loss():
    rng = np.random.default_rng(1)
    y, p = rng.normal(size=(2, 4, 3)).astype(np.float32), rng.normal(size=(2, 4, 3)).astype(np.float32)
    mask = np.ones_like(y)
    mask[0, 3] = 0
    expected = [np.sum(((y[r] - p[r]) * mask[r]) ** 2) / mask[r].max(axis=1).sum() for r in range(2)]
    np.testing.assert_allclose(COMP.losses.get("gaussian")(y, p, mask, None).numpy(), expected, rtol=1e-5)


@pytest.mark.parametrize("name,fn", [
    ("lin", lambda v: v), ("relu", lambda v: np.maximum(v, 0)), ("softplus", lambda v: np.log1p(np.exp(v))),
    ("exp", np.exp), ("sigmoid", lambda v: 1 / (1 + np.exp(-v)))])
def test_activations(name, fn):
    v = np.linspace(-4, 4, 17).astype(np.float32)
    np.testing.assert_allclose(np.asarray(COMP.activations.get(name)(v)), fn(v), rtol=1e-5, atol=1e-6)


def test_initialisers_follow_ndn3():
    init = COMP.initializers
    normal = init.get("normal")(np.random.default_rng(0), (200, 100), "weights")
    assert abs(normal.std() - 0.1) < 0.005 and abs(normal.mean()) < 0.005
    weights = init.get("trunc_normal")(np.random.default_rng(0), (200, 100), "weights")
    np.testing.assert_allclose(weights, np.abs(normal))  # |N(0, 0.1^2)|, same draw
    bias = init.get("trunc_normal")(np.random.default_rng(0), (200, 100), "bias")
    np.testing.assert_allclose(bias, normal)  # NDN3's bias trunc_normal is not truncated
    assert not init.get("zeros")(np.random.default_rng(0), (3, 2)).any()


def test_softplus_is_accurate_over_the_whole_float32_range_and_its_gradient_is_the_sigmoid():
    """The fused softplus against float64 log(1 + e^x), including where e^-|x| underflows."""
    import tensorflow as tf
    x = np.concatenate([np.linspace(-80, 80, 40001), [-1e-30, 0.0, 1e-30, 88.0, 100.0, -85.0]]).astype(np.float32)
    exact = np.logaddexp(0.0, x.astype(np.float64))
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = COMP.activations.get("softplus")(xt)
    np.testing.assert_allclose(y.numpy(), exact, rtol=1e-6)
    np.testing.assert_allclose(tape.gradient(y, xt).numpy(), 1 / (1 + np.exp(-x.astype(np.float64))),
                               rtol=1e-6, atol=1e-30)
    special = COMP.activations.get("softplus")(tf.constant([np.nan, np.inf, -np.inf], tf.float32)).numpy()
    assert np.isnan(special[0]) and special[1] == np.inf and special[2] == 0.0


def test_poisson_summed_weights_every_neuron_by_the_mean_weight():
    y, p, mask = _counts_and_rates(4)
    R, B, N = y.shape
    mask[1, 4:, :] = 0  # replica 1: two padding rows
    mean = np.array([1.5, 2.0, 0.5, 3.0, 1.0], np.float32)
    expected = []
    for r in range(R):
        rows = [t for t in range(B) if mask[r, t].max() > 0]
        total = sum(p[r, t, n] - y[r, t, n] * np.log(p[r, t, n] + 1e-6) for t in rows for n in range(N))
        expected.append(total * np.mean(1.0 / mean) / len(rows))
    got = COMP.losses.get("poisson_summed")(y, p, mask, mean).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    # With equal neuron means it is exactly the NDN3 loss.
    same = np.full(N, 2.0, np.float32)
    np.testing.assert_allclose(COMP.losses.get("poisson_summed")(y, p, mask, same).numpy(),
                               numpy_poisson(y, p, mask, same), rtol=1e-5)
