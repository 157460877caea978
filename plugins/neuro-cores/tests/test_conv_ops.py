"""Replicated convolutions (neuro_cores.conv_ops) against a direct numpy computation, per replica,
and their gradients against TensorFlow's own gradients of the plain ops and finite differences."""

import numpy as np
import pytest
import tensorflow as tf

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
@pytest.mark.parametrize("cin", [1, 2])
@pytest.mark.parametrize("op", [conv_ops.full_conv, conv_ops.first_conv])
def test_full_and_first_conv_use_each_replicas_filters(padding, cin, op):
    x, w = rand(R, B, H, W, cin), rand(R, 3, 4, cin, 4, seed=2)
    got = op(x, w, padding).numpy()
    for r in range(R):
        for b in range(B):
            np.testing.assert_allclose(got[r, b], numpy_conv(x[r, b], w[r], 1, padding), rtol=1e-4, atol=1e-4)


def test_pointwise_conv_is_a_per_replica_channel_product():
    x, w = rand(R, B, H, W, 5), rand(R, 5, 6, seed=3)
    got = conv_ops.pointwise_conv(x, w).numpy()
    expected = np.einsum("rbhwi,rio->rbhwo", x.astype(np.float64), w)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------------------- gradients
def plain_depthwise(x, w, padding):
    """The same maths with TensorFlow's own depthwise op and its own gradients."""
    return tf.stack([tf.nn.depthwise_conv2d(x[r], w[r][..., None], [1, 1, 1, 1], padding.upper())
                     for r in range(w.shape[0])])


def plain_full(x, w, padding):
    return tf.stack([tf.nn.conv2d(x[r], w[r], 1, padding.upper()) for r in range(w.shape[0])])


def gradients(op, x, w, probe, padding, mode="eager"):
    def both(x, w):
        with tf.GradientTape() as tape:
            tape.watch([x, w])
            loss = tf.reduce_sum(op(x, w, padding) * probe)
        return tape.gradient(loss, [x, w])
    if mode != "eager":
        both = tf.function(both, jit_compile=mode == "xla")
    return [g.numpy() for g in both(tf.constant(x), tf.constant(w))]


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("k", [3, 4, 7])
@pytest.mark.parametrize("mode", ["eager", "graph", "xla"])
def test_depthwise_gradients_equal_tensorflows(padding, k, mode):
    x, w = rand(R, B, H, W + 3, 5), rand(R, k, k, 5, seed=1)
    probe = rand(*plain_depthwise(x, w, padding).shape, seed=4)
    got = gradients(conv_ops.depthwise_conv, x, w, probe, padding, mode)
    expected = gradients(plain_depthwise, x, w, probe, padding)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("mode", ["eager", "xla"])
def test_first_conv_gradients_equal_tensorflows(padding, mode):
    x, w = rand(R, B, H, W, 2), rand(R, 5, 3, 2, 4, seed=2)
    probe = rand(*plain_full(x, w, padding).shape, seed=5)
    for g, e in zip(gradients(conv_ops.first_conv, x, w, probe, padding, mode),
                    gradients(plain_full, x, w, probe, padding)):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("mode", ["eager", "graph", "xla"])
def test_pointwise_depthwise_equals_the_two_ops_and_their_gradients(padding, mode):
    """The fused 1 x 1 + depthwise layer (its middle recomputed for the gradient) against the
    plain ops with TensorFlow's own gradients: output, and the gradients of x and both filters."""
    x, w_in, w_dw = rand(R, B, H, W, 4), rand(R, 4, 5, seed=7), rand(R, 3, 3, 5, seed=8)

    def plain(x, w_in, w_dw):
        mid = tf.einsum("rbhwi,rio->rbhwo", x, w_in)
        return plain_depthwise(mid, w_dw, padding)

    probe = rand(*plain(x, w_in, w_dw).shape, seed=9)

    def run(op, mode):
        def both(*args):
            with tf.GradientTape() as tape:
                tape.watch(args)
                y = op(*args)
                loss = tf.reduce_sum(y * probe)
            return [y, *tape.gradient(loss, args)]
        if mode != "eager":
            both = tf.function(both, jit_compile=mode == "xla")
        return [v.numpy() for v in both(tf.constant(x), tf.constant(w_in), tf.constant(w_dw))]

    got = run(lambda *a: conv_ops.pointwise_depthwise(*a, padding), mode)
    for g, e in zip(got, run(plain, "eager")):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-4)


def test_depthwise_filter_gradient_matches_finite_differences():
    """Independent of TensorFlow's gradients: central differences of the loss in float64 numpy."""
    x, w = rand(1, B, 6, 7, 2).astype(np.float64), rand(1, 3, 3, 2, seed=1).astype(np.float64)
    probe = rand(1, B, 6, 7, 2, seed=6).astype(np.float64)

    def loss(wv):
        return sum(float(np.sum(numpy_depthwise(x[0, b], wv[0], "same") * probe[0, b])) for b in range(B))

    _, got = gradients(conv_ops.depthwise_conv, x.astype(np.float32), w.astype(np.float32),
                       probe.astype(np.float32), "same")
    eps = 1e-5
    for index in [(0, 0, 0, 0), (0, 1, 2, 1), (0, 2, 1, 0), (0, 1, 1, 1)]:
        up, down = w.copy(), w.copy()
        up[index] += eps
        down[index] -= eps
        np.testing.assert_allclose(got[index], (loss(up) - loss(down)) / (2 * eps), rtol=1e-3, atol=1e-3)


def test_bad_padding_and_mismatched_replicas_are_clear_errors():
    x = rand(R, B, H, W, 2)
    with pytest.raises(conv_ops.ConvShapeError, match="padding"):
        conv_ops.depthwise_conv(x, rand(R, 3, 3, 2), "full")
    with pytest.raises(conv_ops.ConvShapeError, match="replicas"):
        conv_ops.pointwise_conv(x, rand(R + 1, 2, 4))


def test_filter_gradient_with_an_unknown_number_of_rows_equals_the_per_row_one():
    """Traced with an unknown batch size the filter gradient takes its folded path."""
    x, dy = rand(4, 7, 9, 3), rand(4, 7, 9, 3, seed=7)
    spec = tf.TensorSpec([None, 7, 9, 3], tf.float32)
    folded = tf.function(lambda a, b: conv_ops.depthwise_filter_gradient(a, b, 3, "same"),
                         input_signature=[spec, spec])
    np.testing.assert_allclose(folded(x, dy).numpy(), conv_ops.depthwise_filter_gradient(x, dy, 3, "same").numpy(),
                               rtol=1e-4, atol=1e-4)
    expected = tf.compat.v1.nn.depthwise_conv2d_native_backprop_filter(x, [3, 3, 3, 1], dy, [1, 1, 1, 1], "SAME")
    np.testing.assert_allclose(folded(x, dy).numpy(), expected.numpy()[..., 0], rtol=1e-4, atol=1e-4)
