"""The ``normal`` layer: y = f(xW + b), its NDN3 dropout, replicas, export and training."""

import numpy as np
import pytest

from msc_neuro_cli.api import ManifestError
from msc_neuro_cli.api.testing import assert_export_roundtrip, assert_replicas_independent, build, run, smoke_train

DIMS = (3, 3, 1)
X = np.random.default_rng(0).normal(size=(32, 9)).astype(np.float32)


def dense(units=40, **params):
    return [{"component": "normal", "units": units, **params}]


def test_values_match_numpy():
    layers = build(dense(5, activation="softplus", bias_init="trunc_normal"), DIMS, 5, seeds=[0, 1])
    w, b = layers[0].weight("kernel").numpy(), layers[0].weight("bias").numpy()
    got = run(layers, X)
    for r in range(2):
        np.testing.assert_allclose(got[r], np.log1p(np.exp(X @ w[r] + b[r])), rtol=1e-5, atol=1e-6)


def test_dropout_only_while_training_with_one_mask_per_unit_for_the_batch():
    layers = build(dense(dropout=0.25), DIMS, 40, seeds=[0, 1, 2])
    clean = run(layers, X)
    np.testing.assert_array_equal(run(layers, X, training=False), clean)
    dropped = run(layers, X, training=True)
    kept = ~np.isclose(dropped, 0.0)
    np.testing.assert_allclose(dropped[kept], (clean / 0.75)[kept], rtol=1e-5)  # inverted dropout
    # NDN3 noise shape [1, units]: a unit is kept or dropped for every row of the minibatch
    assert np.all(kept == kept[:, :1, :])
    # replicas draw their own masks
    assert not np.array_equal(kept[0, 0], kept[1, 0]) or not np.array_equal(kept[1, 0], kept[2, 0])
    # deterministic for the same weights and rows
    np.testing.assert_array_equal(run(layers, X, training=True), dropped)


def test_dropout_rate_is_respected_and_row_masks_differ():
    layers = build(dense(units=400, dropout=0.3, dropout_mask="row"), DIMS, 400, seeds=[0])
    dropped = run(layers, X, training=True)[0]
    assert abs(np.mean(dropped == 0) - 0.3) < 0.02
    assert not np.all((dropped == 0) == (dropped[:1] == 0))


def test_dropout_masks_change_as_weights_change():
    layers = build(dense(dropout=0.5), DIMS, 40, seeds=[0])
    first = run(layers, X, training=True) == 0
    layers[0].weight("kernel").assign(layers[0].weight("kernel").numpy() * 1.001)
    assert not np.array_equal(run(layers, X, training=True) == 0, first)


def test_bad_dropout_and_regularizer_values_name_the_key():
    with pytest.raises(ManifestError, match=r"test.model\[0\].dropout"):
        build(dense(dropout=1.0), DIMS, 40, seeds=[0])
    with pytest.raises(ManifestError, match=r"regularizers.*must be a number >= 0"):
        build(dense(regularizers={"l2": -1}), DIMS, 40, seeds=[0])


@pytest.mark.parametrize("training", [False, True])
def test_replicas_are_independent(training):
    model = dense(6, activation="softplus", dropout=0.4, regularizers={"l2": 0.1})
    assert_replicas_independent(model, DIMS, 6, X, training=training)


def test_export_reloads_and_predicts_identically(tmp_path):
    layers = build(dense(6, activation="softplus", dropout=0.4), DIMS, 6, seeds=[0, 1])
    assert_export_roundtrip(layers, X, tmp_path, replica=0)


def test_two_epochs_with_dropout():
    trainer, summaries = smoke_train(dense(4, activation="softplus", dropout=0.2), DIMS, 4)
    assert trainer.epoch == 2 and np.all(np.isfinite(summaries[-1].loss))
