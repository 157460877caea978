"""conv, diff_of_gaussians, conv_diff_of_gaussians and lin_scale against numpy formulas."""

import math

import numpy as np
import pytest

from msc_neuro_cli.api import ManifestError
from msc_neuro_cli.api.testing import build, run
from neuro_basics.testing import numpy_conv

EPS = float(np.finfo(float).eps)


def set_weights(layer, **values):
    for name, value in values.items():
        layer.weight(name).assign(np.asarray(value, np.float32))


@pytest.mark.parametrize("dims,filters,width,stride,padding", [
    ((9, 9, 1), 3, 3, 1, "same"),
    ((9, 9, 2), 4, 4, 2, "same"),    # even kernel: TF pads the extra zero after the image
    ((9, 7, 3), 2, 5, 3, "same"),
    ((9, 9, 2), 3, 3, 2, "valid"),
])
def test_conv_shapes_and_values(dims, filters, width, stride, padding):
    rng = np.random.default_rng(0)
    model = [{"component": "conv", "filters": filters, "width": width, "stride": stride, "padding": padding}]
    out_y = math.ceil((dims[0] if padding == "same" else dims[0] - width + 1) / stride)
    out_x = math.ceil((dims[1] if padding == "same" else dims[1] - width + 1) / stride)
    layers = build(model, dims, out_y * out_x * filters, seeds=[0, 1])
    conv = layers[0]
    assert conv.output_dims() == (out_y, out_x, filters)
    kernel = rng.normal(size=(2, width, width, dims[2], filters))
    bias = rng.normal(size=(2, filters))
    set_weights(conv, kernel=kernel, bias=bias)
    images = rng.normal(size=(4, int(np.prod(dims))))
    got = run(layers, images)
    for r in range(2):
        for b in range(4):
            expected = numpy_conv(images[b].reshape(dims), kernel[r], stride, padding) + bias[r]
            np.testing.assert_allclose(got[r, b], expected.reshape(-1), rtol=1e-4, atol=1e-5)


def test_conv_initialises_from_the_initializer_registry():
    layers = build([{"component": "conv", "filters": 2, "width": 3, "init": "trunc_normal",
                     "bias_init": "trunc_normal"}], (5, 5, 1), 50, seeds=[4])
    kernel = layers[0].weight("kernel").numpy()[0]
    draws = np.random.default_rng([4, 0, 0]).normal(0.0, 0.1, size=(3, 3, 1, 2) )
    np.testing.assert_allclose(kernel, np.abs(draws), rtol=1e-6)


def numpy_dog(p, height, width, impl_sigma, impl_concentric, sigma_bounds):
    """(height*width, K) filters from (8, K) parameters: NDN3's DoG with its clipping."""
    lo, hi = sigma_bounds
    clip = lambda v, a, b: np.maximum(np.minimum(v, b), a)  # noqa: E731  TF clip_by_value
    a1, s1, ux1, uy1, a2, s2, ux2, uy2 = p
    a1, a2 = np.maximum(a1, EPS), np.maximum(a2, EPS)
    s1, s2 = clip(s1, lo, hi), clip(s2, lo, hi)
    ux1, ux2 = clip(ux1, 2, width - 2), clip(ux2, 2, width - 2)
    uy1, uy2 = clip(uy1, 2, height - 2), clip(uy2, 2, height - 2)
    if impl_sigma:
        s2 = s1 + s2
    if impl_concentric:
        ux2, uy2 = ux1, uy1
    X, Y = np.meshgrid(np.arange(width), np.arange(height))  # X: column, Y: row
    out = np.zeros((height, width, p.shape[1]))
    for k in range(p.shape[1]):
        g = lambda a, s, ux, uy: a * np.exp(-((X - ux) ** 2 + (Y - uy) ** 2) / (2 * s)) / (2 * np.pi * s)  # noqa: E731
        out[:, :, k] = g(a1[k], s1[k], ux1[k], uy1[k]) - g(a2[k], s2[k], ux2[k], uy2[k])
    return out.reshape(height * width, -1)


# columns: inside bounds; sigma above its bound and centre below 2; alpha <= 0 and uy above H-2
DOG_PARAMS = np.array([
    [1.5, 4.0, 0.7],     # a1
    [2.0, 40.0, 3.0],    # s1
    [4.0, 0.5, 6.5],     # ux1
    [3.0, 1.0, 9.0],     # uy1
    [0.8, -1.0, 0.3],    # a2
    [3.0, 2.0, 30.0],    # s2
    [5.0, 1.0, 3.5],     # ux2
    [4.5, 6.0, 2.5],     # uy2
])


@pytest.mark.parametrize("impl_sigma", [True, False])
@pytest.mark.parametrize("impl_concentric", [True, False])
def test_diff_of_gaussians_filters(impl_sigma, impl_concentric):
    dims = (9, 8, 1)
    model = [{"component": "diff_of_gaussians", "units": 3, "impl_sigma": impl_sigma,
              "impl_concentric": impl_concentric, "sigma_bounds": [1, 25]}]
    layers = build(model, dims, 3, seeds=[0])
    bias = np.array([[0.1, -0.2, 0.3]])
    set_weights(layers[0], kernel=DOG_PARAMS[None], bias=bias)
    images = np.random.default_rng(1).normal(size=(5, 72))
    filters = numpy_dog(DOG_PARAMS, 9, 8, impl_sigma, impl_concentric, (1, 25))
    np.testing.assert_allclose(run(layers, images)[0], images @ filters + bias[0], rtol=1e-4, atol=1e-6)


def test_diff_of_gaussians_random_init_is_uniform_within_bounds():
    layers = build([{"component": "diff_of_gaussians", "units": 4}], (9, 7, 1), 4, seeds=[2])
    rng = np.random.default_rng([2, 0, 0])
    ranges = [(EPS, 10.0), (1, 25), (2, 5), (2, 7)]  # alpha, sigma, ux in (2, W-2), uy in (2, H-2)
    expected = [lo + (hi - lo) * rng.random(4) + (2 if i == 3 else 0)
                for _ in range(2) for i, (lo, hi) in enumerate(ranges)]
    np.testing.assert_allclose(layers[0].weight("kernel").numpy()[0], np.array(expected), rtol=1e-6)


@pytest.mark.parametrize("width,stride", [(5, 1), (5, 2), (3, 1)])
def test_conv_diff_of_gaussians(width, stride):
    dims = (9, 9, 1)
    out = math.ceil(9 / stride)
    layers = build([{"component": "conv_diff_of_gaussians", "filters": 3, "width": width, "stride": stride}],
                   dims, out * out * 3, seeds=[0])
    params = DOG_PARAMS.copy()
    bias = np.array([0.05, 0.0, -0.1])
    set_weights(layers[0], kernel=params[None], bias=bias[None])
    bounds = (1, int(0.82 * width))  # for width 3 the centre bounds (2, 1) are empty: pinned at 2
    kernel = numpy_dog(params, width, width, True, True, bounds).reshape(width, width, 1, 3)
    images = np.random.default_rng(2).normal(size=(3, 81))
    got = run(layers, images)[0]
    for b in range(3):
        expected = numpy_conv(images[b].reshape(dims), kernel, stride, "same") + bias
        np.testing.assert_allclose(got[b], expected.reshape(-1), rtol=1e-4, atol=1e-6)


def test_conv_diff_of_gaussians_init_uses_the_grid_bounds():
    layers = build([{"component": "conv_diff_of_gaussians", "filters": 5, "width": 7}], (9, 9, 1), 405, seeds=[1])
    p = layers[0].weight("kernel").numpy()[0]
    for g in (0, 4):
        assert np.all((p[g + 1] >= 1) & (p[g + 1] <= 5))          # sigma in (1, int(0.82 * 7))
        assert np.all((p[g + 2] >= 2) & (p[g + 2] <= 5))          # ux in (2, c - 2)
        assert np.all((p[g + 3] >= 4) & (p[g + 3] <= 7))          # uy + 2, as NDN3


def test_lin_scale():
    layers = build([{"component": "lin_scale"}, {"component": "normal", "units": 2, "init": "zeros"}],
                   (2, 2, 1), 2, seeds=[0, 1])
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    np.testing.assert_allclose(layers[0](np.broadcast_to(x, (2, 2, 4))).numpy()[1], x)  # identity init
    set_weights(layers[0], scale=[[2.0], [-0.5]], offset=[[1.0], [0.25]])
    got = layers[0](np.broadcast_to(x, (2, 2, 4))).numpy()
    np.testing.assert_allclose(got[0], 2 * x + 1)
    np.testing.assert_allclose(got[1], -0.5 * x + 0.25)


def test_impossible_geometry_is_a_one_line_manifest_error():
    with pytest.raises(ManifestError, match="does not fit the 9x9 input"):
        build([{"component": "conv", "filters": 2, "width": 11, "padding": "valid"}], (9, 9, 1), 2, seeds=[0])
    with pytest.raises(ManifestError, match="one-channel image"):
        build([{"component": "conv_diff_of_gaussians", "filters": 2, "width": 3}], (9, 9, 2), 162, seeds=[0])
    with pytest.raises(ManifestError, match=r"model\[0\].width: must be at least 1"):
        build([{"component": "conv", "filters": 2, "width": 0}], (9, 9, 1), 2, seeds=[0])
    with pytest.raises(ManifestError, match="does not apply to this component"):
        build([{"component": "conv_diff_of_gaussians", "filters": 2, "width": 3, "regularizers": {"l2": 1}}],
              (9, 9, 1), 162, seeds=[0])


def test_conv_dropout_drops_whole_filters_for_the_batch():
    layers = build([{"component": "conv", "filters": 16, "width": 3, "dropout": 0.5, "bias_init": "normal"}],
                   (5, 5, 1), 400, seeds=[0, 1])
    images = np.random.default_rng(3).normal(size=(4, 25))
    clean = run(layers, images).reshape(2, 4, 25, 16)
    dropped = run(layers, images, training=True).reshape(2, 4, 25, 16)
    kept = dropped != 0
    assert np.all(kept == kept[:, :1, :1, :])  # NDN3 noise shape [1, 1, 1, filters]
    assert 0 < kept[:, 0, 0].sum() < 32
    np.testing.assert_allclose(dropped[kept], 2.0 * clean[kept], rtol=1e-5)
