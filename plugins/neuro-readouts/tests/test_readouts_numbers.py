"""sep, factorised and gaussian_readout against numpy: effective weights, outputs, penalties."""

import numpy as np
import pytest

from msc_neuro_cli.api import ManifestError
from msc_neuro_cli.api.testing import build, run

DIMS = (4, 3, 5)  # y, x, features
S, F, N = 12, 5, 3
X = np.random.default_rng(0).normal(size=(7, S * F)).astype(np.float32)


def effective(space, feature):
    """(S*F, N): column n is vec(s_n (x) f_n) (space-major, features fastest as the input)."""
    return np.stack([np.kron(space[:, n], feature[:, n]) for n in range(space.shape[1])], axis=1)


def test_sep_effective_weights_normalise_the_feature_kernel():
    layers = build([{"component": "sep", "units": N, "bias_init": "trunc_normal"}], DIMS, N, seeds=[0, 1])
    sep = layers[0]
    for r in range(2):
        kt, ks = sep.weight("features").numpy()[r], sep.weight("space").numpy()[r]
        w = effective(ks, kt / np.linalg.norm(kt, axis=0))
        np.testing.assert_allclose(sep.full_kernel().numpy()[r], w, rtol=1e-5, atol=1e-7)
        expected = X @ w + sep.weight("bias").numpy()[r]
        np.testing.assert_allclose(run(layers, X)[r], expected, rtol=1e-4, atol=1e-6)


def test_sep_regularizers_follow_ndn3_sep_regularization():
    strengths = {"l1": 0.3, "l2": 0.2, "d2x": 0.1, "max_space": 0.05, "max_filt": 0.07, "norm2": 0.01,
                 "norm2_filt": 0.02, "norm2_space": 0.03}
    layers = build([{"component": "sep", "units": N, "regularizers": strengths}], DIMS, N, seeds=[0])
    sep = layers[0]
    kt, ks = sep.weight("features").numpy()[0], sep.weight("space").numpy()[0]
    kt = kt / np.linalg.norm(kt, axis=0)
    both = np.concatenate([kt, ks])
    d = lambda n: -2 * np.eye(n) + np.eye(n, k=1) + np.eye(n, k=-1)  # noqa: E731
    lap = np.kron(np.eye(4), d(3)) + np.kron(d(4), np.eye(3))       # on k_s (y=4, x=3), one channel
    off = lambda n: np.ones((n, n)) - np.eye(n)                     # noqa: E731
    trace = lambda w2, m: np.trace(w2.T @ m @ w2)                   # noqa: E731
    expected = (0.3 * np.abs(both).sum() + 0.2 * 0.5 * (both ** 2).sum()
                + 0.1 * np.sum((lap @ ks) ** 2)
                + 0.05 * trace(ks ** 2, off(S)) + 0.07 * trace(kt ** 2, off(F))
                + 0.01 * ((both ** 2).sum() - N) ** 2
                + 0.02 * ((kt ** 2).sum() - N) ** 2          # ~0: k_t is normalised (as NDN3)
                + 0.03 * ((ks ** 2).sum() - N) ** 2)
    np.testing.assert_allclose(sep.penalty().numpy()[0], expected, rtol=1e-4)


def test_sep_rejects_max_as_ndn3():
    with pytest.raises(ManifestError, match=r"regularizers.*'max' does not apply"):
        build([{"component": "sep", "units": N, "regularizers": {"max": 1.0}}], DIMS, N, seeds=[0])


def test_factorised_uses_absolute_mask_and_features():
    layers = build([{"component": "factorised", "units": N, "init": "normal", "regularizers": {"l1": 0.5}}],
                   DIMS, N, seeds=[3])
    fac = layers[0]
    m, f = fac.weight("mask").numpy()[0], fac.weight("features").numpy()[0]
    assert (m < 0).any() and (f < 0).any()  # the raw weights are signed; the readout uses |.|
    w = effective(np.abs(m), np.abs(f))
    np.testing.assert_allclose(run(layers, X)[0], X @ w + fac.weight("bias").numpy()[0], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(fac.penalty().numpy()[0], 0.5 * (np.abs(m).sum() + np.abs(f).sum()), rtol=1e-5)


def test_factorised_mask_init_scale_divides_the_initial_mask_by_the_positions():
    spec = {"component": "factorised", "units": N, "init": "normal"}
    plain = build([spec], DIMS, N, seeds=[3])[0]
    scaled = build([{**spec, "mask_init_scale": "positions"}], DIMS, N, seeds=[3])[0]
    # same draws, the mask (only) divided by S = 12 positions
    np.testing.assert_allclose(scaled.weight("mask").numpy(), plain.weight("mask").numpy() / S, rtol=1e-6)
    np.testing.assert_allclose(scaled.weight("features").numpy(), plain.weight("features").numpy())
    ones = np.ones((7, S * F), np.float32)
    np.testing.assert_allclose(run([scaled], ones), run([plain], ones) / S, rtol=1e-4, atol=1e-6)


def numpy_gaussian_kernel(mu, sigma, height, width):
    ii, jj = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    out = np.zeros((height * width, mu.shape[1]))
    for n in range(mu.shape[1]):
        g = np.exp(-((ii - mu[0, n]) ** 2 + (jj - mu[1, n]) ** 2) / (2 * sigma[n] ** 2))
        out[:, n] = (g / g.sum()).reshape(-1)
    return out


def test_gaussian_readout_formula_and_constraints():
    layers = build([{"component": "gaussian_readout", "units": N, "regularizers": {"l2": 0.4}}],
                   DIMS, N, seeds=[0, 1])
    g = layers[0]
    mu = np.array([[[0.0, 1.7, 3.0], [2.0, 0.4, 1.0]], [[2.5, 1.0, 0.2], [0.0, 2.0, 1.5]]], np.float32)
    sigma = np.array([[0.5, 1.3, 4.0], [2.0, 0.8, 1.0]], np.float32)
    g.weight("position").assign(mu)
    g.weight("width").assign(sigma)
    for r in range(2):
        w = effective(numpy_gaussian_kernel(mu[r], sigma[r], 4, 3), g.weight("features").numpy()[r])
        np.testing.assert_allclose(run(layers, X)[r], X @ w + g.weight("bias").numpy()[r], rtol=1e-4, atol=1e-6)
    features = g.weight("features").numpy()
    np.testing.assert_allclose(g.penalty().numpy(), 0.4 * 0.5 * (features ** 2).sum(axis=(1, 2)), rtol=1e-5)
    g.weight("position").assign(np.full((2, 2, N), 9.0, np.float32))
    g.weight("width").assign(np.full((2, N), 0.01, np.float32))
    g.apply_constraints()
    np.testing.assert_allclose(g.weight("position").numpy()[:, 0], 3.0)   # y in [0, 3]
    np.testing.assert_allclose(g.weight("position").numpy()[:, 1], 2.0)   # x in [0, 2]
    np.testing.assert_allclose(g.weight("width").numpy(), 0.5)            # min_width


def test_gaussian_readout_initial_positions_and_width():
    layers = build([{"component": "gaussian_readout", "units": 50, "init_position_range": 0.5,
                     "init_width": 0.25}], (9, 9, 2), 50, seeds=[0])
    pos = layers[0].weight("position").numpy()[0]
    assert pos.min() >= 2.0 - 1e-6 and pos.max() <= 6.0 + 1e-6 and pos.std() > 0.5
    np.testing.assert_allclose(layers[0].weight("width").numpy(), 2.25)
