"""conv_bn: convolution + per-replica batch normalisation, against numpy."""

import numpy as np
import pytest

from msc_neuro_cli.api import installed_registries as registries
from msc_neuro_cli.api.testing import build, run
from neuro_basics.testing import numpy_conv

DIMS = (6, 6, 2)
K = 3
X = np.random.default_rng(0).normal(size=(5, 72)).astype(np.float32)


def layer(**params):
    model = [{"component": "conv_bn", "filters": K, "width": 3, "activation": "softplus", **params}]
    return build(model, DIMS, 6 * 6 * K, seeds=[0, 1])


def softplus(v):
    return np.log1p(np.exp(v))


def convolved(kernel):
    return np.stack([numpy_conv(x.reshape(DIMS), kernel) for x in X])  # (B, 6, 6, K)


def test_training_uses_batch_statistics_and_updates_moving_averages():
    layers = layer(momentum=0.9, epsilon=1e-3)
    bn = layers[0]
    rng = np.random.default_rng(1)
    gamma, beta = rng.uniform(0.5, 2, size=(2, K)), rng.normal(size=(2, K))
    bn.weight("gamma").assign(gamma.astype(np.float32))
    bn.weight("beta").assign(beta.astype(np.float32))
    got = run(layers, X, training=True)
    for r in range(2):
        z = convolved(bn.weight("kernel").numpy()[r])
        mean, var = z.mean(axis=(0, 1, 2)), z.var(axis=(0, 1, 2))
        expected = softplus(gamma[r] * (z - mean) / np.sqrt(var + 1e-3) + beta[r])
        np.testing.assert_allclose(got[r], expected.reshape(5, -1), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(bn._vars["moving_mean"].numpy()[r], 0.1 * mean, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(bn._vars["moving_variance"].numpy()[r], 0.9 + 0.1 * var, rtol=1e-4)


def test_padding_rows_of_a_partial_batch_do_not_enter_the_statistics():
    """The trainer pads a kept partial batch with copies of row 0 and marks them (batch_rows)."""
    from msc_neuro_cli.api.layers import batch_rows
    layers = layer(momentum=0.0)  # the moving averages become the batch statistics themselves
    bn = layers[0]
    padded = np.concatenate([X, np.repeat(X[:1], 3, axis=0)])    # 5 real rows + 3 padding rows
    valid = np.array([1.0] * 5 + [0.0] * 3, np.float32)
    with batch_rows.valid_rows(valid):
        got = run(layers, padded, training=True)
    for r in range(2):
        z = convolved(bn.weight("kernel").numpy()[r])                   # the 5 real rows only
        mean, var = z.mean(axis=(0, 1, 2)), z.var(axis=(0, 1, 2))
        np.testing.assert_allclose(bn._vars["moving_mean"].numpy()[r], mean, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(bn._vars["moving_variance"].numpy()[r], var, rtol=1e-4)
        expected = softplus((z - mean) / np.sqrt(var + 1e-3))
        np.testing.assert_allclose(got[r][:5], expected.reshape(5, -1), rtol=1e-4, atol=1e-5)


def test_evaluation_uses_the_moving_averages_and_changes_nothing():
    layers = layer()
    bn = layers[0]
    mm = np.array([[0.1, -0.2, 0.3], [0.0, 0.5, -0.5]], np.float32)
    mv = np.array([[1.5, 0.5, 2.0], [1.0, 3.0, 0.25]], np.float32)
    bn._vars["moving_mean"].assign(mm)
    bn._vars["moving_variance"].assign(mv)
    got = run(layers, X, training=False)
    for r in range(2):
        z = convolved(bn.weight("kernel").numpy()[r])
        np.testing.assert_allclose(got[r], softplus((z - mm[r]) / np.sqrt(mv[r] + 1e-3)).reshape(5, -1),
                                   rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(bn._vars["moving_mean"].numpy(), mm)


def test_initialise_resets_statistics_and_has_no_bias():
    layers = layer()
    bn = layers[0]
    assert set(bn.weight_shapes()) == {"kernel", "gamma", "beta"}
    run(layers, X, training=True)
    bn.initialise([np.random.default_rng(0), np.random.default_rng(1)])
    np.testing.assert_array_equal(bn._vars["moving_mean"].numpy(), 0.0)
    np.testing.assert_array_equal(bn._vars["moving_variance"].numpy(), 1.0)
    np.testing.assert_array_equal(bn.weight("gamma").numpy(), 1.0)


@pytest.mark.parametrize("reg", ["group_sparsity", "d2x", "l1"])
def test_regularizers_see_the_kernel(reg):
    layers = layer(regularizers={reg: 0.5})
    kernel = layers[0].weight("kernel").numpy()  # (R, 3, 3, 2, K)
    expected = registries().components.regularizers.get(reg)(kernel, 0.5).numpy()
    np.testing.assert_allclose(layers[0].penalty().numpy(), expected, rtol=1e-6)
    if reg == "group_sparsity":
        np.testing.assert_allclose(expected, 0.5 * np.sqrt((kernel ** 2).sum(axis=(1, 2))).sum(axis=(1, 2)),
                                   rtol=1e-5)


def test_fused_kernel_equals_the_step_by_step_statistics_and_gradients():
    """Without padding rows batch norm runs TensorFlow's fused kernel; with all-real row weights
    it runs the step-by-step moments. Both must give the same outputs, moving averages and gradients."""
    import keras
    import tensorflow as tf

    from msc_neuro_cli.api.layers import batch_rows
    from neuro_cores.conv_bn import batch_normalise

    rng = np.random.default_rng(3)
    z = tf.constant(rng.normal(1.0, 2.0, (2, 5, 4, 3, 6)), tf.float32)
    gamma = tf.Variable(rng.uniform(0.5, 1.5, (2, 6)), dtype=tf.float32)
    beta = tf.Variable(rng.normal(0, 1, (2, 6)), dtype=tf.float32)

    def normalise(valid):
        mean, var = keras.Variable(np.zeros((2, 6), np.float32)), keras.Variable(np.ones((2, 6), np.float32))
        with tf.GradientTape() as tape:
            tape.watch(z)
            with batch_rows.valid_rows(valid):
                out = batch_normalise(z, True, mean, var, gamma, beta, 0.9, 1e-3)
            loss = tf.reduce_sum(out * tf.sin(z))
        grads = tape.gradient(loss, [z, gamma, beta])
        return [out, mean, var, *grads]

    fused, stepwise = normalise(None), normalise(tf.ones(5))
    for a, b in zip(fused, stepwise):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-4, atol=2e-5)
