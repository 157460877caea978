"""The Klindt et al. 2017 network and a Gaussian-readout network built on conv_bn cores."""

import numpy as np
import pytest

from msc_neuro_cli.api.testing import assert_export_roundtrip, assert_replicas_independent, build, smoke_train

DIMS, NEURONS = (9, 9, 1), 4
CORE = [
    {"component": "conv_bn", "filters": 4, "width": 5, "activation": "softplus", "regularizers": {"d2x": 0.1}},
    {"component": "conv_bn", "filters": 4, "width": 3, "activation": "softplus",
     "regularizers": {"group_sparsity": 0.1}},
]
FAMILIES = {
    "klindt": CORE + [{"component": "factorised", "units": "N", "activation": "softplus",
                       "regularizers": {"l1": 0.01}}],
    "gaussian": CORE + [{"component": "gaussian_readout", "units": "N", "activation": "softplus"}],
}
X = np.random.default_rng(5).normal(size=(6, 81)).astype(np.float32)


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("training", [False, True])
def test_replicas_are_independent(family, training):
    assert_replicas_independent(FAMILIES[family], DIMS, NEURONS, X, training=training)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_export_reloads_and_predicts_identically(family, tmp_path):
    layers = build(FAMILIES[family], DIMS, NEURONS, seeds=[0, 1])
    for layer in layers[:2]:  # non-trivial statistics, so the export must carry them
        layer._vars["moving_mean"].assign(np.full((2, 4), 0.3, np.float32))
        layer._vars["moving_variance"].assign(np.full((2, 4), 2.0, np.float32))
    assert_export_roundtrip(layers, X, tmp_path)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_two_epochs_of_training_update_the_statistics(family):
    trainer, summaries = smoke_train(FAMILIES[family], DIMS, NEURONS)
    assert trainer.epoch == 2 and np.all(np.isfinite(summaries[-1].loss))
    moving = trainer.layers[0]._vars["moving_mean"].numpy()
    assert np.all(moving != 0.0) and not np.allclose(moving[0], moving[1])


@pytest.mark.slow
def test_compiled_training_with_replica_groups_keeps_statistics(tmp_path):
    """The production path: XLA and the trainer's default replica groups (one per core on CPU)."""
    trainer, summaries = smoke_train(FAMILIES["klindt"], DIMS, NEURONS, seeds=(0, 1, 2), xla=True,
                                     replica_groups=None, epochs=2)
    assert np.all(np.isfinite(summaries[-1].loss))
    moving = trainer.layers[0]._vars["moving_mean"].numpy()
    assert np.all(moving != 0.0), "moving averages trained in replica groups never reached the run's layers"
    assert_export_roundtrip(trainer.layers, X, tmp_path, replica=2)
