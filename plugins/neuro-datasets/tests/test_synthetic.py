"""The synthetic generator, the files it writes, and the embedded default dataset."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from msc_neuro_cli.api import DatasetRegistry
import neuro_datasets
from neuro_datasets import ground_truth as gt
from neuro_datasets.natural_images import dead_leaves, radial_power_spectrum
from neuro_datasets.synthetic import ARRAYS, generate, write

REPO = Path(__file__).resolve().parents[3]
EMBEDDED = REPO / "data" / "synthetic"
SMALL = dict(n_train=40, n_val=6, repeats=4, n_neurons=12, size=15)


def _pearson_mean(a, b):
    # Independent of synthetic.mean_correlation: numpy's corrcoef per column.
    return float(np.mean([np.corrcoef(a[:, i], b[:, i])[0, 1] for i in range(a.shape[1])]))


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    write(generate(seed=3, **SMALL), tmp_path / "a")
    write(generate(seed=3, **SMALL), tmp_path / "b")
    write(generate(seed=4, **SMALL), tmp_path / "c")
    for name in ARRAYS:
        rel = Path("Data/region1") / f"{name}.npy"
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
        assert (tmp_path / "a" / rel).read_bytes() != (tmp_path / "c" / rel).read_bytes()
    assert (tmp_path / "a/meta.json").read_text() == (tmp_path / "b/meta.json").read_text()


def test_shapes_dtypes_and_ranges():
    data = generate(seed=1, **SMALL)
    assert data["training_inputs"].shape == (40, 225)
    assert data["training_set"].shape == (40, 12)
    assert data["validation_inputs"].shape == (6, 225)
    assert data["validation_set"].shape == (6, 12)
    assert data["raw_validation_set"].shape == (4, 6, 12)
    for name in ARRAYS:
        assert data[name].dtype == np.float32
        assert np.all(np.isfinite(data[name])) and data[name].min() >= 0
    pixels = data["training_inputs"].astype(np.float64) * 1e6
    assert pixels.max() <= 255 + 1e-3
    np.testing.assert_allclose(pixels, np.round(pixels), atol=1e-3)  # 8-bit grey levels / 1e6
    np.testing.assert_allclose(data["validation_set"], data["raw_validation_set"].mean(axis=0), rtol=1e-6)


def test_neuron_count_does_not_change_images():
    a, b = generate(seed=2, **SMALL), generate(seed=2, **{**SMALL, "n_neurons": 5})
    np.testing.assert_array_equal(a["training_inputs"], b["training_inputs"])


def test_dead_leaves_have_natural_spectrum():
    images = dead_leaves(np.random.default_rng(0), 200, 31)
    freqs, power = radial_power_spectrum(images)
    slope = np.polyfit(np.log(freqs), np.log(power), 1)[0]
    assert -2.6 < slope < -1.7  # natural images: about -2
    assert 55 < images.std() < 85 and set(np.unique(images)) <= set(range(256))


def test_noise_is_poisson_like():
    rng = np.random.default_rng(0)
    pop = gt.draw_population(rng, 3, 15)
    pop.amplitude = np.array([0.5, 1.0, 2.0])
    expected = np.full((200000, 3), 0.8)
    r = gt.trials(rng, pop, expected)
    np.testing.assert_allclose(r.mean(axis=0), 0.8, rtol=0.02)
    np.testing.assert_allclose(r.var(axis=0), 2 * pop.amplitude * 0.8, rtol=0.03)
    np.testing.assert_allclose((r == 0).mean(axis=0), np.exp(-0.8 / pop.amplitude), atol=0.005)


def test_cells_are_driven_by_images():
    data = generate(seed=0, n_train=300, n_val=30, repeats=10, n_neurons=30, size=31)
    rates = data["training_rates"]
    assert np.all(rates.std(axis=0) > 0.1 * rates.mean(axis=0))
    assert 0.4 < data["ceiling"] < 0.95


def test_written_files_load_through_the_dataset_source(tmp_path):
    write(generate(seed=5, **SMALL), tmp_path / "syn")
    registry = DatasetRegistry()
    neuro_datasets.register_datasets(registry)  # the hook, as the plugin manager calls it
    source = registry.get("synthetic")({"path": "syn", "region": 1}, tmp_path)
    source.check()
    data = source.load()
    assert data.input_dims == (15, 15, 1)
    assert data.train_x.shape == (40, 225) and data.raw_validation.shape == (4, 6, 12)
    assert data.regions == [("region1", 12)]
    np.testing.assert_array_equal(data.val_y, np.load(tmp_path / "syn/Data/region1/validation_set.npy"))


def test_cli_synth_writes_the_same_as_the_function(tmp_path):
    from typer.testing import CliRunner
    import typer

    from neuro_datasets.commands import synth

    app = typer.Typer()
    app.command()(synth)
    result = CliRunner().invoke(app, ["--out", str(tmp_path / "cli"), "--seed", "3", "--neurons", "12",
                                      "--train", "40", "--val", "6", "--repeats", "4", "--size", "15"])
    assert result.exit_code == 0, result.output
    write(generate(seed=3, **SMALL), tmp_path / "fn")
    for name in ARRAYS:
        rel = Path("Data/region1") / f"{name}.npy"
        assert (tmp_path / "cli" / rel).read_bytes() == (tmp_path / "fn" / rel).read_bytes()


@pytest.mark.skipif(not (EMBEDDED / "meta.json").exists(), reason="embedded dataset not generated")
class TestEmbedded:
    def meta(self):
        return json.loads((EMBEDDED / "meta.json").read_text())

    def test_checksums_match(self):
        for rel, digest in self.meta()["sha256"].items():
            assert hashlib.sha256((EMBEDDED / rel).read_bytes()).hexdigest() == digest, rel

    def test_shape_of_one_antolik_region(self):
        meta = self.meta()
        assert meta["params"] == {"seed": 0, "n_train": 1800, "n_val": 50, "repeats": 10, "n_neurons": 100,
                                  "size": 31, "generator_version": 1}
        region = EMBEDDED / "Data" / "region1"
        assert np.load(region / "training_inputs.npy").shape == (1800, 961)
        assert np.load(region / "raw_validation_set.npy").shape == (10, 50, 100)

    def test_stated_ceiling_matches_independent_computation(self):
        truth = np.load(EMBEDDED / "ground_truth/validation_rates.npy").astype(np.float64)
        trial_mean = np.load(EMBEDDED / "Data/region1/raw_validation_set.npy").astype(np.float64).mean(axis=0)
        stated = self.meta()["ceiling"]["mean_correlation_rates_vs_trial_average"]
        assert abs(_pearson_mean(truth, trial_mean) - stated) < 1e-4
        assert 0.5 < stated < 0.85

    def test_response_scale_like_antolik(self):
        train = np.load(EMBEDDED / "Data/region1/training_set.npy")
        assert 0.3 < train.mean() < 1.0 and 10 < train.max() < 60
        assert 0.3 < (train == 0).mean() < 0.75
