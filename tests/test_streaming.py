"""The streaming trainer (training data read from an HDF5 file block by block) and the streaming
correlation it reports."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from msc_neuro_cli.engine.model import ComponentSpec, assemble, replica_weights
from msc_neuro_cli.engine.streaming import (StreamingTrainer, block_order, default_block_rows,
                                            within_block_order)
from msc_neuro_cli.engine.trainer import TrainingConfig
from msc_neuro_cli.datasets.lazy_arrays import H5Array
from msc_neuro_cli.metrics.correlation import NAN_MODES, CorrelationAccumulator, per_neuron_correlation
from msc_neuro_cli.plugin_system.manager import registries

SIDE, NEURONS = 5, 4


# ---------------------------------------------------------------------- streaming correlation
@pytest.mark.parametrize("mode", NAN_MODES)
def test_correlation_accumulator_matches_in_memory_correlation(mode):
    rng = np.random.default_rng(0)
    rows, neurons = 203, 7
    y = rng.normal(5.0, 2.0, (rows, neurons))
    pred = 0.5 * y + rng.normal(0, 1, (rows, neurons)) + 1e3  # a large offset: no cancellation
    y[:, 1] = 3.0                        # constant recorded response: NaN, or filtered
    y[:, 2] = 3.0 + 1e-7 * rng.normal(size=rows)  # std < 1e-5: filtered by filter-low-std-gold
    pred[5, 3] = np.nan                  # a non-finite prediction for one neuron
    mask = (rng.random((rows, neurons)) > 0.3).astype(np.float32)
    mask[:, 4] = 0                       # a neuron without any row: NaN
    mask[:100, 5] = 0                    # a neuron absent from the first blocks
    expected = per_neuron_correlation(y, pred, mask, mode)
    for block in (1, 17, 64, rows):
        acc = CorrelationAccumulator(neurons)
        for lo in range(0, rows, block):
            acc.add(y[lo:lo + block], pred[lo:lo + block], mask[lo:lo + block])
        got = acc.result(mode)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
        np.testing.assert_allclose(got, expected, rtol=1e-6)  # neuron 2 (std 1e-7) is ill-conditioned
        well = [0, 3, 5, 6]
        np.testing.assert_allclose(got[well], expected[well], rtol=1e-10, atol=1e-12)
    assert np.isfinite(expected[0]) and expected[0] > 0.5  # the comparison covers real values
    acc = CorrelationAccumulator(neurons)
    acc.add(y, pred)  # no mask
    np.testing.assert_allclose(acc.result(mode), per_neuron_correlation(y, pred, None, mode), rtol=1e-10)


def test_correlation_accumulator_rejects_unknown_mode():
    with pytest.raises(ValueError, match="unknown correlation NaN mode"):
        CorrelationAccumulator(2).result("zero")


# ---------------------------------------------------------------------- orders and block sizes
def test_block_sizes_and_orders():
    assert default_block_rows(10_000, 4 * 100, 16, block_bytes=400 * 1000) == 992  # multiple of 16
    assert default_block_rows(50, 4, 16) == 64  # never more than the data, padded to a batch
    assert sorted(block_order(3, 7)) == list(range(7))
    assert not np.array_equal(block_order(3, 7), block_order(4, 7))
    order = within_block_order(5, 2, 1, 13, 16)
    assert sorted(order[:13]) == list(range(13)) and list(order[13:]) == [0, 0, 0]


# ---------------------------------------------------------------------- the trainer
def _write(path, rows=200, seed=0):
    """A learnable problem: responses = softplus(images @ filters) (+ Poisson noise), in an h5 file."""
    rng = np.random.default_rng(seed)
    filters = rng.normal(size=(SIDE * SIDE, NEURONS)) / SIDE
    x = rng.normal(size=(rows + 40, SIDE * SIDE)).astype(np.float32)
    y = rng.poisson(np.log1p(np.exp(x @ filters + 0.5))).astype(np.float32)
    with h5py.File(path, "w") as f:
        for name, value in (("train_x", x[:rows]), ("train_y", y[:rows]), ("val_x", x[rows:]), ("val_y", y[rows:])):
            f[name] = value
    f = h5py.File(path, "r")
    return {name: H5Array(f[name], path, name) for name in ("train_x", "train_y", "val_x", "val_y")}


def _specs():
    return [ComponentSpec("normal", {"units": 3, "activation": "softplus"}, "t[0]"),
            ComponentSpec("normal", {"units": "N", "activation": "softplus"}, "t[1]")]


def _trainer(seeds, arrays, epochs=2, block_rows=64, **config):
    reg = registries().components
    layers = assemble(_specs(), (SIDE, SIDE, 1), NEURONS, len(seeds), reg)
    cfg = TrainingConfig(epochs=epochs, summary_every=2, **config)
    trainer = StreamingTrainer(layers, reg.losses.get("poisson"), cfg, list(seeds), arrays["train_x"],
                               arrays["train_y"], arrays["val_x"], arrays["val_y"], block_rows=block_rows)
    trainer.initialise()
    return trainer


def test_replica_alone_equals_same_seed_among_three(tmp_path):
    arrays = _write(tmp_path / "d.h5")  # 200 rows in blocks of 64: 64 + 64 + 64 + 8 (partial)
    alone = _trainer([11], arrays, xla=False)
    alone.train()
    together = _trainer([3, 11, 7], arrays, xla=False, replica_groups=2)
    together.train()
    for a, b in zip(replica_weights(alone.layers, 0), replica_weights(together.layers, 1)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not np.allclose(replica_weights(together.layers, 0)[0], replica_weights(together.layers, 1)[0])
    assert alone.groups[0].optimizer.step.numpy() == 2 * 13  # keep: 4 + 4 + 4 + 1 batches per epoch


def test_resume_from_state_continues_identically(tmp_path):
    arrays = _write(tmp_path / "d.h5")
    straight = _trainer([4], arrays, epochs=3, xla=False)
    straight.train()
    first = _trainer([4], arrays, epochs=1, xla=False)
    first.train()
    resumed = _trainer([4], arrays, epochs=3, xla=False)
    resumed.load_state(first.state())
    resumed.train()
    for a, b in zip(replica_weights(straight.layers, 0), replica_weights(resumed.layers, 0)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_loss_decreases_and_data_are_only_read_in_blocks(tmp_path):
    arrays = _write(tmp_path / "d.h5", rows=512)
    trainer = _trainer([0, 1], arrays, epochs=12, block_rows=96, learning_rate=1e-2, partial_batch="drop")
    summaries = []
    trainer.train(on_summary=summaries.append)
    first, last = summaries[0], summaries[-1]
    assert np.all(last.loss < first.loss)
    assert np.all(np.mean(last.val_correlation, axis=1) > np.mean(first.val_correlation, axis=1) + 0.1)
    assert np.mean(last.train_correlation) > 0.3
    # drop: 96-row blocks hold 6 batches each, the last block of 32 rows 2: no partial batch
    assert trainer.groups[0].optimizer.step.numpy() == 12 * (5 * 6 + 2)
    for name, array in arrays.items():
        assert array.materialised == 0, name  # never read whole
    assert arrays["train_x"].max_rows_read <= 512 and arrays["train_x"].reads > 12 * 6
    assert trainer.blocks_read == 12 * 6
    # The summary's train correlation equals the in-memory computation on the same predictions.
    x, y = np.asarray(arrays["train_x"]), np.asarray(arrays["train_y"])
    expected = [per_neuron_correlation(y, p) for p in trainer.predict(x)]
    np.testing.assert_allclose(trainer.summary(0, last.loss).train_correlation, expected, rtol=1e-6, atol=1e-7)


def test_streaming_refuses_what_it_cannot_do(tmp_path):
    arrays = _write(tmp_path / "d.h5")
    with pytest.raises(ValueError, match="multiple of the batch size"):
        _trainer([0], arrays, block_rows=40)
    with pytest.raises(ValueError, match="early stopping is not available"):
        _trainer([0], arrays, early_stopping={"patience": 2})


def test_stop_between_blocks_abandons_the_epoch_and_resume_equals_straight(tmp_path):
    arrays = _write(tmp_path / "d.h5")  # 4 blocks per epoch
    straight = _trainer([4, 5], arrays, epochs=3, xla=False)
    straight.train()
    first = _trainer([4, 5], arrays, epochs=3, xla=False)
    saved = []
    # blocks 1-4 are epoch 0's, 5-8 epoch 1's (one read ahead): the stop comes within epoch 1
    assert first.train(should_stop=lambda: first.blocks_read >= 6,
                       on_summary=lambda summary: saved.append(first.state())) == "interrupted"
    assert first.partial_epoch and first.epoch == 1 and first.blocks_read < 8
    with pytest.raises(RuntimeError, match="within an epoch"):
        first.state()
    resumed = _trainer([4, 5], arrays, epochs=3, xla=False)
    resumed.load_state(saved[-1])
    assert resumed.epoch == 1
    resumed.train()
    for a, b in zip(straight.state()["arrays"].values(), resumed.state()["arrays"].values()):
        np.testing.assert_array_equal(a, b)
