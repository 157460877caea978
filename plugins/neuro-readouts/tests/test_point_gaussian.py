"""point_gaussian_readout against an independent numpy bilinear interpolation (grid_sample's rule)."""

import numpy as np
import pytest
import tensorflow as tf

from msc_neuro_cli.api.testing import assert_export_roundtrip, assert_replicas_independent, build, run
from msc_neuro_cli.api.layers import side_inputs
from neuro_readouts.bilinear import read_points

DIMS, NEURONS = (5, 7, 3), 4
X = np.random.default_rng(0).normal(size=(6, 5 * 7 * 3)).astype(np.float32)


def bilinear_taps(h, w, gx, gy):
    """(row, column, weight) of the pixels inside an (h, w) map that normalised point (gx, gy)
    mixes: align_corners=True, neighbours outside the map left out (zeros padding)."""
    px, py = (gx + 1) * (w - 1) / 2, (gy + 1) * (h - 1) / 2
    x0, y0 = int(np.floor(px)), int(np.floor(py))
    return [(yi, xi, (1 - abs(px - xi)) * (1 - abs(py - yi)))
            for yi in (y0, y0 + 1) for xi in (x0, x0 + 1) if 0 <= yi < h and 0 <= xi < w]


def numpy_read(image, gx, gy):
    """One (H, W, C) image at normalised point (gx, gy)."""
    out = np.zeros(image.shape[2])
    for yi, xi, weight in bilinear_taps(image.shape[0], image.shape[1], gx, gy):
        out += weight * image[yi, xi]
    return out


def numpy_readout(x, mu, features, bias, shift=None):
    """(B, N) for one replica: each neuron reads clip(mu) (+ shift of the row) and weighs its features."""
    rows, n = x.shape[0], mu.shape[0]
    out = np.zeros((rows, n))
    for b in range(rows):
        image = x[b].reshape(DIMS)
        for i in range(n):
            gx, gy = np.clip(mu[i], -1, 1) + (0 if shift is None else shift[b])
            out[b, i] = numpy_read(image, gx, gy) @ features[:, i] + bias[i]
    return out


def readout(seeds=(0, 1), **params):
    return build([{"component": "point_gaussian_readout", "units": "N", **params}], DIMS, NEURONS, list(seeds))


def set_weights(layer, rng):
    mu = rng.uniform(-1.2, 1.2, size=(layer.replicas, NEURONS, 2))
    mu[0, 0] = [1.0, -1.0]  # corners exactly
    layer._vars["mu"].assign(mu.astype(np.float32))
    layer._vars["features"].assign(rng.normal(size=(layer.replicas, DIMS[2], NEURONS)).astype(np.float32))
    layer._vars["bias"].assign(rng.normal(size=(layer.replicas, NEURONS)).astype(np.float32))


def test_evaluation_reads_the_map_at_mu_by_bilinear_interpolation():
    layer, = readout()
    set_weights(layer, np.random.default_rng(1))
    got = run([layer], X)
    for r in range(2):
        v = {k: layer._vars[k].numpy()[r] for k in ("mu", "features", "bias")}
        np.testing.assert_allclose(got[r], numpy_readout(X, v["mu"], v["features"], v["bias"]), rtol=1e-5, atol=1e-5)


def test_points_outside_the_map_read_zeros_beyond_the_edge():
    fmap = np.random.default_rng(2).normal(size=(1, 1, 4, 6, 2)).astype(np.float32)
    gx = np.array([[[-1.3, -1.0, 0.37, 1.0, 1.1, 2.5]]], np.float32)
    gy = np.array([[[0.2, -1.2, 0.81, 1.0, -0.4, 0.0]]], np.float32)
    got = read_points(tf.constant(fmap), tf.constant(gx), tf.constant(gy)).numpy()[0, 0]
    expected = np.stack([numpy_read(fmap[0, 0], a, b) for a, b in zip(gx[0, 0], gy[0, 0])])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert np.all(got[-1] == 0)  # wholly outside



def numpy_map_gradient(shape, gx, gy, upstream):
    """d sum(read * upstream) / d fmap for one (H, W, C) map: each point spreads its upstream
    gradient over its four neighbours with the bilinear weights (zeros-padding: none outside)."""
    grad = np.zeros(shape)
    for n in range(len(gx)):
        for yi, xi, weight in bilinear_taps(shape[0], shape[1], gx[n], gy[n]):
            grad[yi, xi] += weight * upstream[n]
    return grad


@pytest.mark.parametrize("mode", ["eager", "xla"])
def test_gradient_with_respect_to_the_map_spreads_back_over_the_four_neighbours(mode):
    """The read's own gradient (it keeps nothing of its gathers) against numpy, points inside,
    on edges, shared between neurons and outside the map."""
    rng = np.random.default_rng(5)
    fmap = rng.normal(size=(2, 3, 4, 6, 2)).astype(np.float32)
    gx = rng.uniform(-1.3, 1.3, size=(2, 3, 5)).astype(np.float32)
    gy = rng.uniform(-1.3, 1.3, size=(2, 3, 5)).astype(np.float32)
    gx[0, 0, :2], gy[0, 0, :2] = 0.25, -0.5                      # two neurons on one point
    gx[1, 2, 0], gy[1, 2, 0] = 1.0, -1.0                          # a corner exactly
    upstream = rng.normal(size=(2, 3, 5, 2)).astype(np.float32)

    def loss_and_grad(f):
        with tf.GradientTape() as tape:
            tape.watch(f)
            loss = tf.reduce_sum(read_points(f, tf.constant(gx), tf.constant(gy)) * upstream)
        return tape.gradient(loss, f)

    fn = tf.function(loss_and_grad, jit_compile=True) if mode == "xla" else loss_and_grad
    got = fn(tf.constant(fmap)).numpy()
    for r in range(2):
        for b in range(3):
            np.testing.assert_allclose(got[r, b], numpy_map_gradient(fmap.shape[2:], gx[r, b], gy[r, b],
                                                                     upstream[r, b]), rtol=1e-5, atol=1e-6)

def test_gradient_with_respect_to_mu_matches_finite_differences():
    layer, = readout(seeds=(0,))
    rng = np.random.default_rng(3)
    set_weights(layer, rng)
    # keep points inside one pixel cell for the finite differences (the map is piecewise bilinear)
    layer._vars["mu"].assign(np.array([[[0.13, -0.41], [-0.52, 0.27], [0.61, 0.09], [-0.2, -0.66]]], np.float32))
    xb = tf.constant(X[None])
    weights = tf.constant(rng.normal(size=(1, len(X), NEURONS)), tf.float32)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(xb) * weights)
    grad = tape.gradient(loss, layer._vars["mu"]).numpy()
    mu0, eps = layer._vars["mu"].numpy().astype(np.float64), 1e-3
    numeric = np.zeros_like(mu0)
    for i in range(NEURONS):
        for a in range(2):
            values = []
            for sign in (1, -1):
                mu = mu0.copy()
                mu[0, i, a] += sign * eps
                layer._vars["mu"].assign(mu.astype(np.float32))
                values.append(float(tf.reduce_sum(layer(xb) * weights)))
            numeric[0, i, a] = (values[0] - values[1]) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, rtol=2e-2, atol=2e-3)


def test_training_samples_around_mu_with_the_learned_spread():
    layer, = readout()
    set_weights(layer, np.random.default_rng(4))
    evaluation = run([layer], X)
    layer._vars["sigma"].assign(np.zeros((2, NEURONS, 3), np.float32))
    np.testing.assert_allclose(run([layer], X, training=True), evaluation, rtol=1e-6)  # no spread: reads mu
    layer._vars["sigma"].assign(np.tile([0.2, 0.1, 0.3], (2, NEURONS, 1)).astype(np.float32))
    state = layer._vars["noise_state"].numpy()
    first, second = run([layer], X, training=True), run([layer], X, training=True)
    assert not np.allclose(first, evaluation) and not np.allclose(first, second)  # a new draw per step
    layer._vars["noise_state"].assign(state)
    np.testing.assert_array_equal(run([layer], X, training=True), first)  # the state alone decides the draw
    assert not np.allclose(first[0], first[1])  # replicas draw differently


def test_full_spread_is_the_lower_triangular_factor_times_the_noise():
    layer, = readout(seeds=(0,))
    sigma = np.random.default_rng(5).normal(size=(1, NEURONS, 3)).astype(np.float32)
    layer._vars["sigma"].assign(sigma)
    noise = np.random.default_rng(6).normal(size=(1, 3, NEURONS, 2)).astype(np.float32)
    got = layer._spread(tf.constant(noise)).numpy()
    for n in range(NEURONS):
        factor = np.array([[sigma[0, n, 0], 0.0], [sigma[0, n, 1], sigma[0, n, 2]]])
        np.testing.assert_allclose(got[0, :, n], noise[0, :, n] @ factor.T, rtol=1e-5, atol=1e-6)


def test_matrix_spread_is_the_unconstrained_matrix_times_the_noise():
    layer, = readout(seeds=(0,), spread="matrix")
    sigma = np.random.default_rng(8).normal(size=(1, NEURONS, 4)).astype(np.float32)
    layer._vars["sigma"].assign(sigma)
    noise = np.random.default_rng(9).normal(size=(1, 3, NEURONS, 2)).astype(np.float32)
    got = layer._spread(tf.constant(noise)).numpy()
    for n in range(NEURONS):
        matrix = sigma[0, n].reshape(2, 2)  # the reference's grid: mu + einsum('cd,d->c', sigma, e)
        np.testing.assert_allclose(got[0, :, n], noise[0, :, n] @ matrix.T, rtol=1e-5, atol=1e-6)


def test_matrix_spread_starts_uniform_in_plus_minus_init_sigma():
    layer, = readout(seeds=(0, 1), spread="matrix", init_sigma=0.1)
    sigma = layer._vars["sigma"].numpy()
    assert sigma.shape == (2, NEURONS, 4)
    assert np.all(np.abs(sigma) <= 0.1) and np.std(sigma) > 0.02 and not np.allclose(sigma[0], sigma[1])


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("spread", ["full", "matrix", "isotropic"])
def test_replicas_are_independent(training, spread):
    model = [{"component": "point_gaussian_readout", "units": "N", "spread": spread, "init_sigma": 0.3}]
    assert_replicas_independent(model, DIMS, NEURONS, X, training=training)


def test_l1_on_the_features_and_the_default_strength():
    layer, = readout()
    set_weights(layer, np.random.default_rng(7))
    expected = 3.5e-5 * np.abs(layer._vars["features"].numpy()).sum(axis=(1, 2))
    np.testing.assert_allclose(layer.penalty().numpy(), expected, rtol=1e-5)


def test_initialisation_follows_the_reference():
    layer, = readout(seeds=(0, 1), init_mu_range=0.3, init_sigma=0.1)
    mu = layer._vars["mu"].numpy()
    assert np.all(np.abs(mu) <= 0.3) and not np.allclose(mu[0], mu[1])
    np.testing.assert_allclose(layer._vars["features"].numpy(), 1 / 3)
    np.testing.assert_allclose(layer._vars["sigma"].numpy()[0, 0], [0.1, 0.0, 0.1])


def test_bias_starts_at_the_mean_training_response():
    from msc_neuro_cli.api.testing import make_trainer, synthetic_data
    (x, y), (vx, vy) = synthetic_data(DIMS, NEURONS)
    layers = readout()
    make_trainer(layers, (x, y), (vx, vy), [0, 1])  # initialises the weights, the bias from the data
    expected = np.concatenate([y, vy]).mean(axis=0)  # the trainer's mean response per neuron
    np.testing.assert_allclose(layers[0]._vars["bias"].numpy(), np.tile(expected, (2, 1)), rtol=1e-6)


def test_export_reloads_and_predicts_identically(tmp_path):
    layers = readout(seeds=(0, 1))
    set_weights(layers[0], np.random.default_rng(8))
    assert_export_roundtrip(layers, X, tmp_path)


# --- the shifter ------------------------------------------------------------------------------
PUPIL = np.random.default_rng(9).normal(size=(len(X), 2)).astype(np.float32)


def numpy_shift(layer, r, pupil, layers=2):
    h = pupil
    for i in range(layers):
        h = np.tanh(h @ layer._vars[f"shifter_w{i}"].numpy()[r] + layer._vars[f"shifter_b{i}"].numpy()[r])
    return h


def test_the_shifter_moves_every_point_by_an_mlp_of_the_pupil_centre():
    layer, = readout(shifter_layers=2, shifter_hidden=3)
    set_weights(layer, np.random.default_rng(10))
    layer._vars["shifter_b1"].assign(np.full((2, 2), 0.3, np.float32))
    with side_inputs.published({"pupil_center": PUPIL}):
        got = run([layer], X)
    for r in range(2):
        v = {k: layer._vars[k].numpy()[r] for k in ("mu", "features", "bias")}
        expected = numpy_readout(X, v["mu"], v["features"], v["bias"], shift=numpy_shift(layer, r, PUPIL))
        np.testing.assert_allclose(got[r], expected, rtol=1e-4, atol=1e-5)


def test_a_missing_pupil_centre_is_a_one_line_error_naming_the_component():
    layer, = readout(shifter_layers=1)
    assert side_inputs.required([layer]) == {"pupil_center": layer.name}
    with pytest.raises(side_inputs.SideInputError, match=rf"{layer.name}.*'pupil_center'"):
        run([layer], X)  # (Keras appends the call's arguments to errors raised inside a layer)
    with pytest.raises(side_inputs.SideInputError, match=rf"^{layer.name}: .*'pupil_center'") as caught:
        side_inputs.check_available([layer], ["behavior"])  # before training: one line
    assert "\n" not in str(caught.value)


def test_a_shifted_model_reloads_and_predicts_identically(tmp_path):
    import keras
    from msc_neuro_cli.api.layers import export_replica
    layers = readout(shifter_layers=2)
    set_weights(layers[0], np.random.default_rng(11))
    path = tmp_path / "shifted.keras"
    export_replica(layers, 1).save(path)
    reloaded = keras.models.load_model(path)
    with side_inputs.published({"pupil_center": PUPIL}):
        expected = run(layers, X)[1]
        got = reloaded(X).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_mixed_precision_reads_the_same_points():
    from msc_neuro_cli.api.testing import computes_in_low_precision
    layers = readout()
    set_weights(layers[0], np.random.default_rng(12))
    assert computes_in_low_precision(layers[0])
    low = run(layers, X, precision="mixed_bfloat16")
    assert low.dtype.name == "bfloat16"
    np.testing.assert_allclose(low.astype(np.float32), run(layers, X), rtol=5e-2, atol=5e-2)
