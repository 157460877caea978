"""The field's standard-model pieces in neuro_basics: ELU activations and the LaplaceL2norm penalty."""

import numpy as np
import pytest

from msc_neuro_cli.api import installed_registries as registries

COMP = registries().components
STENCIL = np.array([[0, -1, 0], [-1, 4, -1], [0, -1, 0]], float)


def numpy_laplace(filt, padding):
    """Cross-correlation of one (k, k) filter with the 3 x 3 Laplace stencil, zero-padded by ``padding``."""
    padded = np.pad(filt, padding)
    size = padded.shape[0] - 2
    out = np.zeros((size, padded.shape[1] - 2))
    for i in range(size):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(padded[i:i + 3, j:j + 3] * STENCIL)
    return out


@pytest.mark.parametrize("name,padding", [("laplace_l2norm", 1), ("laplace_l2norm_valid", 0)])
@pytest.mark.parametrize("shape", [(2, 5, 5, 1, 3), (1, 9, 9, 2, 4), (3, 3, 4, 2, 2)])
def test_laplace_l2norm_against_numpy(name, padding, shape):
    w = np.random.default_rng(sum(shape)).normal(size=shape)
    got = COMP.regularizers.get(name)(w.astype(np.float32), 0.7).numpy()
    for r in range(shape[0]):
        num = sum(np.sum(numpy_laplace(w[r, :, :, c, u], padding) ** 2)
                  for c in range(shape[3]) for u in range(shape[4]))
        np.testing.assert_allclose(got[r], 0.7 * num / np.sum(w[r] ** 2), rtol=1e-5)


def test_laplace_l2norm_is_scale_free_and_zero_for_zero_filters():
    w = np.random.default_rng(0).normal(size=(1, 5, 5, 1, 2)).astype(np.float32)
    fn = COMP.regularizers.get("laplace_l2norm")
    np.testing.assert_allclose(fn(w, 1.0).numpy(), fn(10 * w, 1.0).numpy(), rtol=1e-5)
    assert fn(np.zeros_like(w), 1.0).numpy()[0] == 0.0


@pytest.mark.parametrize("name,fn", [("elu", lambda v: np.where(v > 0, v, np.expm1(v))),
                                     ("elu1", lambda v: np.where(v > 0, v, np.expm1(v)) + 1)])
def test_elu_activations(name, fn):
    v = np.linspace(-6, 6, 25).astype(np.float32)
    np.testing.assert_allclose(np.asarray(COMP.activations.get(name)(v)), fn(v), rtol=1e-5, atol=1e-6)
