"""behavior_modulator: a positive per-neuron gain from the behaviour rows, against numpy."""

import keras
import numpy as np
import pytest

from msc_neuro_cli.api.layers import export_replica, side_inputs
from msc_neuro_cli.api.testing import assert_replicas_independent, build, run

DIMS, NEURONS = (4, 5, 2), 3
X = np.random.default_rng(0).normal(size=(6, 40)).astype(np.float32)
BEHAVIOR = np.random.default_rng(1).normal(size=(6, 3)).astype(np.float32)
MODEL = [{"component": "point_gaussian_readout", "units": "N"},
         {"component": "behavior_modulator", "hidden": 4, "layers": 2, "activation": "elu1"}]


def elu(v):
    return np.where(v > 0, v, np.expm1(v))


def numpy_gain(layer, r, behavior):
    w = {name: var.numpy()[r] for name, var in layer._vars.items()}
    hidden = np.maximum(behavior @ w["gain_w0"] + w["gain_b0"], 0)
    return elu(hidden @ w["gain_w1"] + w["gain_b1"]) + 1


def model(seeds=(0, 1)):
    layers = build(MODEL, DIMS, NEURONS, list(seeds))
    rng = np.random.default_rng(2)
    for var in layers[1].trainable_variables:  # non-zero biases, so every term of the formula counts
        var.assign(rng.normal(size=var.shape).astype(np.float32))
    return layers


def test_gain_multiplies_the_readout_before_the_output_activation():
    layers = model()
    with side_inputs.published({"behavior": BEHAVIOR}):
        got = run(layers, X)
    drive = run(layers[:1], X)
    for r in range(2):
        gain = numpy_gain(layers[1], r, BEHAVIOR)
        assert np.all(gain > 0)
        np.testing.assert_allclose(got[r], elu(drive[r] * gain) + 1, rtol=1e-5, atol=1e-6)


def test_each_replica_reads_its_own_rows_when_the_trainer_gathers_them_per_replica():
    layers = model()
    per_replica = np.stack([BEHAVIOR, BEHAVIOR[::-1]])  # (R, B, d): replica 1 saw another order
    with side_inputs.published({"behavior": per_replica}):
        got = run(layers, X)
    drive = run(layers[:1], X)
    gain = numpy_gain(layers[1], 1, BEHAVIOR[::-1])
    np.testing.assert_allclose(got[1], elu(drive[1] * gain) + 1, rtol=1e-5, atol=1e-6)


def test_replicas_are_independent():
    with side_inputs.published({"behavior": BEHAVIOR}):
        assert_replicas_independent(MODEL, DIMS, NEURONS, X)


def test_missing_or_misshapen_behaviour_is_an_error_naming_the_component():
    layers = model()
    with pytest.raises(side_inputs.SideInputError, match=rf"{layers[1].name}.*'behavior'"):
        run(layers, X)
    with side_inputs.published({"behavior": BEHAVIOR[:, :2]}):
        with pytest.raises(side_inputs.SideInputError, match="expects 3 values of 'behavior' per trial, .* has 2"):
            run(layers, X)
    assert side_inputs.required(layers) == {"behavior": layers[1].name}


def test_l1_acts_on_the_last_weight_matrix():
    layers = build([MODEL[0], {**MODEL[1], "regularizers": {"l1": 0.5}}], DIMS, NEURONS, [0, 1])
    last = layers[1]._vars["gain_w1"].numpy()
    np.testing.assert_allclose(layers[1].penalty().numpy(), 0.5 * np.abs(last).sum(axis=(1, 2)), rtol=1e-5)


def test_a_modulated_model_reloads_and_predicts_identically(tmp_path):
    layers = model()
    path = tmp_path / "modulated.keras"
    export_replica(layers, 1).save(path)
    reloaded = keras.models.load_model(path)
    with side_inputs.published({"behavior": BEHAVIOR}):
        np.testing.assert_allclose(reloaded(X).numpy(), run(layers, X)[1], rtol=1e-5, atol=1e-6)
