"""Front-end models: replicas independent, exported models reload identically, 2-epoch training."""

import numpy as np
import pytest

from msc_neuro_cli.api.testing import assert_export_roundtrip, assert_replicas_independent, build, smoke_train

DIMS, NEURONS = (9, 9, 1), 4
FAMILIES = {
    "diff_of_gaussians": [
        {"component": "diff_of_gaussians", "units": 3, "bias_init": "trunc_normal"},
        {"component": "normal", "units": "N", "activation": "softplus", "regularizers": {"l2": 0.1}}],
    "conv": [
        {"component": "conv", "filters": 3, "width": 3, "stride": 2, "activation": "softplus",
         "regularizers": {"d2x": 0.1, "max_filt": 0.1}, "dropout": 0.2},
        {"component": "normal", "units": "N", "activation": "softplus", "regularizers": {"l1": 0.01}}],
    "conv_diff_of_gaussians": [
        {"component": "conv_diff_of_gaussians", "filters": 2, "width": 5, "stride": 2, "activation": "softplus"},
        {"component": "normal", "units": "N", "activation": "softplus"}],
    "lin_scale": [
        {"component": "lin_scale"},
        {"component": "normal", "units": "N", "activation": "exp", "init": "zeros"}],
}
X = np.random.default_rng(5).normal(size=(6, 81)).astype(np.float32)


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("training", [False, True])
def test_replicas_are_independent(family, training):
    assert_replicas_independent(FAMILIES[family], DIMS, NEURONS, X, training=training)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_export_reloads_and_predicts_identically(family, tmp_path):
    layers = build(FAMILIES[family], DIMS, NEURONS, seeds=[0, 1])
    assert_export_roundtrip(layers, X, tmp_path, replica=1)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_two_epochs_of_training(family):
    trainer, summaries = smoke_train(FAMILIES[family], DIMS, NEURONS, seeds=(0, 1))
    assert trainer.epoch == 2 and [s.epoch for s in summaries] == [0, 1]
    assert np.all(np.isfinite(summaries[-1].loss)) and summaries[-1].val_correlation.shape == (2, NEURONS)
    before = build(FAMILIES[family], DIMS, NEURONS, seeds=[0, 1])
    moved = [not np.allclose(a.numpy(), b.numpy()) for a, b in zip(trainer.variables,
                                                                    [v for l in before for v in l.trainable_variables])]
    assert any(moved), "training changed no weight"
