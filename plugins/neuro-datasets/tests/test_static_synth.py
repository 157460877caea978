"""`neuro data synth --kind static`: layout, determinism, the ground-truth model, Poisson noise and
the true noise ceiling, each checked against an independent numpy computation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from msc_neuro_cli.api import DatasetError
from neuro_datasets.static import StaticDataset
from neuro_datasets.static_synth import generate_static, write_static

SMALL = {"neurons": 30, "n_train": 60, "n_val": 12, "n_test": 6, "repeats": 4, "shape": (16, 24)}


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("static_synth") / "ds"
    write_static(generate_static(seed=5, **SMALL), root)
    return root


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_cli_and_function_write_identical_bytes_other_seed_differs(tmp_path, small):
    import typer
    from typer.testing import CliRunner

    from neuro_datasets.commands import synth

    app = typer.Typer()
    app.command()(synth)
    args = ["--kind", "static", "--seed", "5", "--neurons", "30", "--train", "60", "--val", "12",
            "--test", "6", "--repeats", "4"]
    # the CLI writes 36 x 64 images; the function at the same size must give the same bytes
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "cli")])
    assert result.exit_code == 0, result.output
    assert "true ceiling" in result.output
    write_static(generate_static(seed=5, **{**SMALL, "shape": (36, 64)}), tmp_path / "fn")
    assert _files(tmp_path / "cli") == _files(tmp_path / "fn")
    write_static(generate_static(seed=6, **SMALL), tmp_path / "other")
    other = _files(tmp_path / "other")
    assert other["data/responses/0.npy"] != _files(small)["data/responses/0.npy"]


def test_layout_tiers_and_static_source(small):
    tiers = np.load(small / "meta/trials/tiers.npy")
    ids = np.load(small / "meta/trials/frame_image_id.npy")
    assert {t: int((tiers == t).sum()) for t in ("train", "validation", "test")} == \
        {"train": 60, "validation": 12, "test": 24}
    assert len(np.unique(ids[tiers == "train"])) == 60  # training images shown once
    test_ids = ids[tiers == "test"]
    assert sorted(np.unique(test_ids, return_counts=True)[1]) == [4] * 6
    assert not set(test_ids) & set(ids[tiers != "test"])
    assert (tiers[:20] != "train").any()  # tiers are interleaved, not blocked
    image = np.load(small / "data/images/0.npy")
    assert image.shape == (1, 16, 24) and image.dtype == np.uint8
    assert np.load(small / "data/behavior/0.npy").shape == (3,)
    assert np.load(small / "data/pupil_center/0.npy").shape == (2,)
    data = StaticDataset({"path": str(small)}, small).load()
    assert data.train_x.shape == (60, 16 * 24) and data.n_neurons == 30 and data.input_dims == (16, 24, 1)


def _independent_rates(root: Path, trials: np.ndarray, neurons: np.ndarray) -> np.ndarray:
    """The documented model, pixel by pixel with explicit loops (no shared code with the generator)."""
    g = {p.stem: np.load(p) for p in (root / "ground_truth").glob("*.npy")}
    k1, k2 = g["layer1"].shape[0], g["layer2"].shape[0]
    out = np.empty((len(trials), len(neurons)))
    for a, t in enumerate(trials):
        c = np.load(root / f"data/images/{t}.npy")[0].astype(float) / 127.5 - 1
        h, w = c.shape
        c1 = np.pad(c, k1 // 2)

        def a1(y, x):  # rectified Gabor responses at pixel (y, x), zero outside the image
            if not (0 <= y < h and 0 <= x < w):
                return np.zeros(g["layer1"].shape[2])
            patch = c1[y:y + k1, x:x + k1]
            return np.maximum(np.einsum("ij,ijk->k", patch, g["layer1"]), 0)

        def a2(y, x):
            total = np.zeros(g["layer2"].shape[3])
            for dy in range(k2):
                for dx in range(k2):
                    total += a1(y + dy - k2 // 2, x + dx - k2 // 2) @ g["layer2"][dy, dx]
            return np.maximum(total - g["bias2"], 0)

        pupil = np.load(root / f"data/pupil_center/{t}.npy").astype(float)
        behavior = np.load(root / f"data/behavior/{t}.npy").astype(float)
        shift = g["shift"] @ ((pupil - g["pupil_mean"]) / g["pupil_std"])
        for b, n in enumerate(neurons):
            qx, qy = np.clip(g["mu"][n] + shift, -1, 1)
            px, py = (qx + 1) / 2 * (w - 1), (qy + 1) / 2 * (h - 1)
            x0, y0 = min(int(px), w - 2), min(int(py), h - 2)
            fx, fy = px - x0, py - y0
            value = ((1 - fx) * (1 - fy) * a2(y0, x0) + fx * (1 - fy) * a2(y0, x0 + 1)
                     + (1 - fx) * fy * a2(y0 + 1, x0) + fx * fy * a2(y0 + 1, x0 + 1))
            d = g["features"][n] @ value
            u = (d - g["drive_mean"][n]) / g["drive_std"][n]
            gain = np.exp(g["alpha"][n] @ ((behavior - g["behavior_mean"]) / g["behavior_std"]))
            out[a, b] = gain * g["rate"][n] * np.log1p(np.exp(g["slope"][n] * (u - g["threshold"][n]))) / g["norm"][n]
    return out


def test_noise_free_rates_are_the_documented_model(small):
    test_trials = np.load(small / "ground_truth/test_trials.npy")
    stored = np.load(small / "ground_truth/test_rates.npy")
    pick = np.array([0, 7, 13]), np.array([0, 11, 29])
    expected = _independent_rates(small, test_trials[pick[0]], pick[1])
    np.testing.assert_allclose(stored[np.ix_(pick[0], pick[1])], expected, rtol=1e-9)
    # The normalisers are what the doc says: training-tier drive statistics give mean rate r_n at gain 1.
    g = np.load(small / "ground_truth/rate.npy")
    assert np.all(g > 0) and np.all(np.isfinite(stored)) and stored.min() > 0


def test_responses_are_poisson_counts_of_the_rates():
    data = generate_static(seed=1, neurons=200, n_train=40, n_val=4, n_test=20, repeats=20, shape=(16, 16))
    responses, rates = data["responses"].astype(float), data["rates"]
    assert np.array_equal(responses, np.round(responses)) and responses.min() >= 0
    z = (responses - rates) / np.sqrt(rates)
    assert abs(z.mean()) < 0.02 and abs(z.var() - 1) < 0.05  # Poisson: mean = variance = rate
    # the zero fraction matches exp(-rate)
    assert abs((responses == 0).mean() - np.exp(-rates).mean()) < 0.01


def test_ceiling_file_matches_independent_correlations(small):
    meta = json.loads((small / "ground_truth.json").read_text())
    trials = np.load(small / "ground_truth/test_trials.npy")
    rates = np.load(small / "ground_truth/test_rates.npy")
    ids = np.load(small / "meta/trials/frame_image_id.npy")[trials]
    responses = np.stack([np.load(small / f"data/responses/{t}.npy") for t in trials]).astype(float)
    images = sorted(set(ids.tolist()))
    avg_rate = np.array([[rates[ids == i, n].mean() for n in range(30)] for i in images])
    avg_resp = np.array([[responses[ids == i, n].mean() for n in range(30)] for i in images])
    average = [np.corrcoef(avg_rate[:, n], avg_resp[:, n])[0, 1] for n in range(30)]
    single = [np.corrcoef(rates[:, n], responses[:, n])[0, 1] for n in range(30)]
    ceiling = meta["ceiling"]
    np.testing.assert_allclose(ceiling["trial_average"]["per_neuron"], average, atol=1e-6)
    np.testing.assert_allclose(ceiling["single_trial"]["median"], np.median(single), atol=1e-6)
    assert ceiling["trial_average"]["median"] == pytest.approx(np.median(average), abs=1e-6)
    assert meta["params"]["seed"] == 5 and meta["trials"]["test"] == 24


def test_refuses_to_overwrite_a_foreign_folder(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(DatasetError, match="not a synthetic static dataset"):
        write_static(generate_static(seed=0, **SMALL), tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    with pytest.raises(DatasetError, match="n_test must be at least 2"):
        generate_static(n_test=1)
