"""Replicated convolutions (neuro_cores.conv_ops) against a direct numpy computation, per replica."""

import numpy as np
import pytest

from neuro_basics.testing import numpy_conv
from neuro_cores import conv_ops

R, B, H, W = 3, 2, 9, 8


def rand(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def numpy_depthwise(image, kernel, padding):
    """image (H, W, C), kernel (k, k, C): each channel convolved with its own filter."""
    return np.concatenate([numpy_conv(image[..., c:c + 1], kernel[..., c:c + 1, None], 1, padding)
                           for c in range(image.shape[-1])], axis=-1)


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("k", [3, 4])
def test_depthwise_conv_is_one_filter_per_channel_and_replica(padding, k):
    x, w = rand(R, B, H, W, 5), rand(R, k, k, 5, seed=1)
    got = conv_ops.depthwise_conv(x, w, padding).numpy()
    for r in range(R):
        for b in range(B):
            np.testing.assert_allclose(got[r, b], numpy_depthwise(x[r, b], w[r], padding), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("cin", [1, 2])   # 1: the grey-image path (replicas folded into channels)
def test_full_and_first_conv_use_each_replicas_filters(padding, cin):
    x, w = rand(R, B, H, W, cin), rand(R, 3, 3, cin, 4, seed=2)
    got = conv_ops.full_conv(x, w, padding).numpy()
    for r in range(R):
        for b in range(B):
            np.testing.assert_allclose(got[r, b], numpy_conv(x[r, b], w[r], 1, padding), rtol=1e-4, atol=1e-4)
    if padding == "valid":
        np.testing.assert_allclose(conv_ops.first_conv(x, w).numpy(), got)


def test_pointwise_conv_is_a_per_replica_channel_product():
    x, w = rand(R, B, H, W, 5), rand(R, 5, 6, seed=3)
    got = conv_ops.pointwise_conv(x, w).numpy()
    expected = np.einsum("rbhwi,rio->rbhwo", x.astype(np.float64), w)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_fold_and_unfold_are_inverse():
    x = rand(R, B, H, W, 5)
    folded = conv_ops.fold(x).numpy()
    assert folded.shape == (B, H, W, R * 5)
    np.testing.assert_array_equal(folded[..., 2 * 5 + 1], x[2, ..., 1])
    np.testing.assert_array_equal(conv_ops.unfold(folded, R).numpy(), x)


def test_bad_padding_and_mismatched_replicas_are_clear_errors():
    x = rand(R, B, H, W, 2)
    with pytest.raises(conv_ops.ConvShapeError, match="padding"):
        conv_ops.depthwise_conv(x, rand(R, 3, 3, 2), "full")
    with pytest.raises(conv_ops.ConvShapeError, match="replicas"):
        conv_ops.pointwise_conv(x, rand(R + 1, 2, 4))
