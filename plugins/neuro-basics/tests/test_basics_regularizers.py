"""Every regulariser against the explicit matrix form of its formula (seed-experiments.md §4)."""

import numpy as np
import pytest

from msc_neuro_cli.api import installed_registries as registries

RNG = np.random.default_rng(42)


def reg(name):
    return registries().components.regularizers.get(name)


def matrix(w_r):
    """One replica's (y, x, c, u) weights as NDN3's W: rows channel-fastest, then x, then y."""
    return w_r.reshape(-1, w_r.shape[-1])


def second_difference(n):
    return -2 * np.eye(n) + np.eye(n, k=1) + np.eye(n, k=-1)


def laplacian(y, x, c):
    if y == 1:  # NDN3 create_tikhonov_matrix, 1-D branch
        return np.kron(second_difference(x), np.eye(c))
    return (np.kron(np.eye(y), np.kron(second_difference(x), np.eye(c)))
            + np.kron(second_difference(y), np.kron(np.eye(x), np.eye(c))))


def max_matrix(kind, pix, filt):
    off = lambda n: np.ones((n, n)) - np.eye(n)  # noqa: E731
    if kind == "max":
        return off(pix * filt)
    if kind == "max_filt":
        return np.kron(np.eye(pix), off(filt))
    return np.kron(off(pix), np.eye(filt))


SHAPES = [(2, 4, 5, 3, 2), (3, 3, 3, 1, 4), (1, 1, 6, 2, 3), (2, 5, 1, 2, 2)]


@pytest.mark.parametrize("shape", SHAPES)
def test_d2x_is_the_explicit_laplacian(shape):
    w = RNG.normal(size=shape).astype(np.float32)
    _, y, x, c, _ = shape
    L = laplacian(y, x, c)
    expected = [0.7 * np.sum((L @ matrix(w[r])) ** 2) for r in range(shape[0])]
    np.testing.assert_allclose(reg("d2x")(w, 0.7).numpy(), expected, rtol=1e-4)


@pytest.mark.parametrize("kind", ["max", "max_filt", "max_space"])
@pytest.mark.parametrize("shape", SHAPES)
def test_max_family_is_the_trace_formula(kind, shape):
    w = RNG.normal(size=shape).astype(np.float32)
    _, y, x, c, _ = shape
    M = max_matrix(kind, y * x, c)
    expected = []
    for r in range(shape[0]):
        w2 = matrix(w[r]) ** 2
        expected.append(0.3 * np.trace(w2.T @ M @ w2))
    np.testing.assert_allclose(reg(kind)(w, 0.3).numpy(), expected, rtol=1e-4, atol=1e-5)


def test_max_filt_is_zero_for_one_channel_and_max_space_for_one_pixel():
    one_channel = RNG.normal(size=(2, 3, 3, 1, 2)).astype(np.float32)
    one_pixel = RNG.normal(size=(2, 1, 1, 4, 2)).astype(np.float32)
    np.testing.assert_allclose(reg("max_filt")(one_channel, 1.0).numpy(), 0.0, atol=1e-6)
    np.testing.assert_allclose(reg("max_space")(one_pixel, 1.0).numpy(), 0.0, atol=1e-6)


@pytest.mark.parametrize("shape", SHAPES)
def test_l1_l2_norm2_group_sparsity(shape):
    w = RNG.normal(size=shape).astype(np.float32)
    units = shape[-1]
    per_replica = w.reshape(shape[0], -1)
    np.testing.assert_allclose(reg("l1")(w, 0.5).numpy(), 0.5 * np.abs(per_replica).sum(1), rtol=1e-5)
    np.testing.assert_allclose(reg("l2")(w, 0.5).numpy(), 0.25 * (per_replica ** 2).sum(1), rtol=1e-5)
    for name in ("norm2", "norm2_filt", "norm2_space"):
        np.testing.assert_allclose(reg(name)(w, 0.2).numpy(),
                                   0.2 * ((per_replica ** 2).sum(1) - units) ** 2, rtol=1e-4)
    groups = np.sqrt((w ** 2).sum(axis=(1, 2)))  # (R, c, u): spatial L2 norm per (channel, unit)
    np.testing.assert_allclose(reg("group_sparsity")(w, 0.1).numpy(), 0.1 * groups.sum(axis=(1, 2)),
                               rtol=1e-5)


def test_group_sparsity_gradient_is_finite_at_zero():
    import tensorflow as tf
    w = tf.Variable(np.zeros((1, 3, 3, 2, 2), np.float32))
    with tf.GradientTape() as tape:
        value = tf.reduce_sum(reg("group_sparsity")(w, 1.0))
    assert np.all(np.isfinite(tape.gradient(value, w).numpy()))
