"""Readout models: replicas independent, exported models reload identically, 2-epoch training."""

import numpy as np
import pytest

from msc_neuro_cli.api.testing import assert_export_roundtrip, assert_replicas_independent, build, smoke_train

DIMS, NEURONS = (9, 9, 1), 4
CONV = {"component": "conv", "filters": 3, "width": 3, "stride": 2, "activation": "softplus",
        "regularizers": {"d2x": 0.01}}
FAMILIES = {
    "sep": [CONV, {"component": "sep", "units": 3, "activation": "softplus", "dropout": 0.2,
                   "regularizers": {"l1": 0.01, "d2x": 0.1, "max_filt": 0.1}},
            {"component": "normal", "units": "N", "activation": "softplus", "regularizers": {"l2": 0.1}}],
    "factorised": [CONV, {"component": "factorised", "units": "N", "activation": "softplus",
                          "regularizers": {"l1": 0.01}}],
    "gaussian_readout": [CONV, {"component": "gaussian_readout", "units": "N", "activation": "softplus",
                                "regularizers": {"l1": 0.01}}],
}
X = np.random.default_rng(5).normal(size=(6, 81)).astype(np.float32)


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("training", [False, True])
def test_replicas_are_independent(family, training):
    assert_replicas_independent(FAMILIES[family], DIMS, NEURONS, X, training=training)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_export_reloads_and_predicts_identically(family, tmp_path):
    assert_export_roundtrip(build(FAMILIES[family], DIMS, NEURONS, seeds=[0, 1]), X, tmp_path)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_two_epochs_of_training(family):
    trainer, summaries = smoke_train(FAMILIES[family], DIMS, NEURONS)
    assert trainer.epoch == 2 and np.all(np.isfinite(summaries[-1].loss))
    assert np.all(np.isfinite(trainer.predict(X)))


COMPILED = {
    "conv_dog_gaussian": [
        {"component": "conv_diff_of_gaussians", "filters": 2, "width": 5, "activation": "softplus"},
        {"component": "conv", "filters": 3, "width": 3, "stride": 2, "activation": "softplus", "dropout": 0.3},
        {"component": "gaussian_readout", "units": "N", "activation": "softplus"}],
    "lin_scale_sep": [
        {"component": "lin_scale"}, CONV,
        {"component": "sep", "units": 3, "activation": "softplus", "dropout": 0.2, "dropout_mask": "row"},
        {"component": "normal", "units": "N", "activation": "softplus"}],
}


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(COMPILED))
def test_compiled_training(family):
    """The production path: XLA-compiled loop (dropout's stateless draws, the replica conv loop)."""
    trainer, summaries = smoke_train(COMPILED[family], DIMS, NEURONS, seeds=(0, 1), xla=True)
    assert np.all(np.isfinite(summaries[-1].loss)) and np.all(np.isfinite(summaries[-1].val_correlation))
