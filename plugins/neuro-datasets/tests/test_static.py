"""The `static` source on small datasets written in the Sinz-lab FileTree layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from msc_neuro_cli.api import DatasetError, validate
from neuro_datasets.static import StaticDataset

NEURONS = 5


def write_static(root: Path, channels: bool = False, test_repeats=(3, 3, 4)) -> dict:
    """8 training trials, 2 validation trials, test images 100/101/102 repeated ``test_repeats`` times."""
    rng = np.random.default_rng(0)
    tiers = ["train"] * 8 + ["validation"] * 2
    image_ids = list(range(10))
    for image, count in zip((100, 101, 102), test_repeats):
        tiers += ["test"] * count
        image_ids += [image] * count
    order = rng.permutation(len(tiers))  # trials are interleaved in real recordings
    tiers, image_ids = np.array(tiers)[order], np.array(image_ids)[order]
    pictures = {i: rng.integers(0, 256, (8, 10)).astype(np.float32) for i in set(image_ids.tolist())}
    for folder in ("data/images", "data/responses", "data/behavior", "data/pupil_center", "meta/trials",
                   "meta/neurons"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    responses = []
    for trial, image in enumerate(image_ids):
        picture = pictures[int(image)]
        np.save(root / f"data/images/{trial}.npy", picture[None] if channels else picture)
        response = rng.poisson(2.0, NEURONS).astype(np.float32)
        responses.append(response)
        np.save(root / f"data/responses/{trial}.npy", response)
        np.save(root / f"data/behavior/{trial}.npy", np.array([trial, 2.0 * trial, 0.5]))
        np.save(root / f"data/pupil_center/{trial}.npy", np.array([100.0 + trial, 50.0]))
    np.save(root / "meta/trials/tiers.npy", tiers)
    np.save(root / "meta/trials/frame_image_id.npy", image_ids)
    np.save(root / "meta/neurons/unit_ids.npy", np.array([11, 12, 13, 14, 15]))
    return {"tiers": tiers, "image_ids": image_ids, "pictures": pictures, "responses": np.array(responses)}


def load(root: Path, **params):
    return StaticDataset({"path": str(root), "train_tiers": ["train"], "validation_tier": "test",
                          "crop": [0, 0, 0, 0], "downsample": 1, "neurons": [], **params}, root).load()


def test_splits_and_repeat_grouping(tmp_path):
    truth = write_static(tmp_path)
    data = load(tmp_path)
    train_trials = np.flatnonzero(truth["tiers"] == "train")
    assert data.train_x.shape == (8, 80) and data.input_dims == (8, 10, 1)
    np.testing.assert_array_equal(data.train_y, truth["responses"][train_trials])
    np.testing.assert_array_equal(data.train_x[0], truth["pictures"][int(truth["image_ids"][train_trials[0]])].ravel())
    # Test images in order of first appearance, 3 repeats each (image 102's 4th repeat dropped).
    assert data.raw_validation.shape == (3, 3, NEURONS) and data.meta["dropped_repeats"] == 1
    for j, image in enumerate(data.meta["validation_image_ids"]):
        trials = np.flatnonzero(truth["image_ids"] == image)[:3]
        np.testing.assert_array_equal(data.raw_validation[:, j], truth["responses"][trials])
        np.testing.assert_array_equal(data.val_x[j], truth["pictures"][image].ravel())
    np.testing.assert_allclose(data.val_y, data.raw_validation.mean(axis=0))
    validate(data, "static")


def test_train_tiers_neurons_crop_downsample(tmp_path):
    truth = write_static(tmp_path, channels=True)
    data = load(tmp_path, train_tiers=["train", "validation"], neurons=[14, 12], crop=[0, 0, 1, 1], downsample=2)
    assert data.train_x.shape == (10, 4 * 4) and data.input_dims == (4, 4, 1)
    rows = np.flatnonzero(np.isin(truth["tiers"], ["train", "validation"]))
    np.testing.assert_array_equal(data.train_y, truth["responses"][rows][:, [3, 1]])
    first = truth["pictures"][int(truth["image_ids"][rows[0]])][:, 1:9]
    expected = first.reshape(4, 2, 4, 2).mean(axis=(1, 3)).ravel()
    np.testing.assert_allclose(data.train_x[0], expected)
    assert data.meta["unit_ids"] == [14, 12]


def test_errors_name_the_file(tmp_path):
    write_static(tmp_path)
    with pytest.raises(DatasetError, match="unit ids \\[99\\] not in the dataset"):
        load(tmp_path, neurons=[99])
    np.save(tmp_path / "data/responses/3.npy", np.zeros(NEURONS + 1))
    with pytest.raises(DatasetError, match=r"responses/3.npy: shape \(6,\) differs"):
        load(tmp_path)
    np.save(tmp_path / "data/responses/3.npy", np.array([1, np.nan, 0, 0, 0]))
    with pytest.raises(DatasetError, match=r"responses/3.npy: contains NaN"):
        load(tmp_path)
    (tmp_path / "data/responses/3.npy").unlink()
    with pytest.raises(DatasetError, match=r"responses/3.npy: missing file"):
        load(tmp_path)
    (tmp_path / "meta/trials/tiers.npy").unlink()
    with pytest.raises(DatasetError, match=r"tiers.npy: missing file"):
        load(tmp_path)


def test_object_arrays_are_refused(tmp_path):
    write_static(tmp_path)
    np.save(tmp_path / "meta/trials/tiers.npy", np.array(["train"] * 19, dtype=object), allow_pickle=True)
    with pytest.raises(DatasetError, match="tiers.npy: not a readable .npy array without pickles"):
        load(tmp_path)


def test_tiers_kept_apart_with_behaviour_and_pupil(tmp_path):
    from msc_neuro_cli.api import load_dataset
    from neuro_datasets.static import raw_test_repeats

    truth = write_static(tmp_path)
    source = StaticDataset({"path": str(tmp_path)}, tmp_path)  # defaults: validation tier, test tier
    data = source.load()
    rows = {t: np.flatnonzero(truth["tiers"] == t) for t in ("train", "validation", "test")}
    np.testing.assert_array_equal(data.train_y, truth["responses"][rows["train"]])
    np.testing.assert_array_equal(data.val_y, truth["responses"][rows["validation"]])  # single trials
    np.testing.assert_array_equal(data.test_y, truth["responses"][rows["test"]])
    np.testing.assert_array_equal(data.test_image_ids, truth["image_ids"][rows["test"]])
    np.testing.assert_array_equal(data.test_x[0], truth["pictures"][int(truth["image_ids"][rows["test"][0]])].ravel())
    assert data.raw_validation is None and data.meta["tiers"] == {"train": 8, "validation": 2, "test": 10}
    for tier, name in (("train", "train"), ("validation", "val"), ("test", "test")):
        np.testing.assert_array_equal(getattr(data, f"{name}_behavior")[:, 0], rows[tier])
        np.testing.assert_array_equal(getattr(data, f"{name}_pupil")[:, 0], 100.0 + rows[tier])
    assert source.CAPABILITIES.tiers and source.CAPABILITIES.behavior
    # the test tier's repeats, grouped by image in order of first appearance (first 3 of each)
    raw = raw_test_repeats(data)
    assert raw.shape == (3, 3, NEURONS)
    first = int(truth["image_ids"][rows["test"][0]])
    np.testing.assert_array_equal(raw[:, 0], truth["responses"][np.flatnonzero(truth["image_ids"] == first)[:3]])
    from neuro_datasets.describe import reliability  # `neuro data info` reports the test tier's repeats
    assert [(r["region"], r["neurons"], r["repeats"]) for r in reliability(data)] == [("test tier", NEURONS, 3)]
    loaded = load_dataset({"name": "static", "params": {"path": str(tmp_path)}, "base_dir": str(tmp_path),
                           "preprocess": {"inputs": "zscore", "scale": 1.0, "stats": "train", "outputs": "none"}})
    assert loaded.test_x.shape == (10, 80) and loaded.test_x.dtype == np.float32
    assert abs(float(loaded.train_x.mean())) < 1e-5  # z-scored with the training tier's statistics


def test_without_validation_trials_as_before(tmp_path):
    truth = write_static(tmp_path)
    tiers = np.where(truth["tiers"] == "validation", "train", truth["tiers"])
    np.save(tmp_path / "meta/trials/tiers.npy", tiers)
    source = StaticDataset({"path": str(tmp_path)}, tmp_path)
    data = source.load()
    assert data.test_x is None and data.train_y.shape == (10, NEURONS) and data.raw_validation.shape == (3, 3, NEURONS)
    assert not source.CAPABILITIES.tiers and source.CAPABILITIES.behavior
    # averaged validation rows carry the behaviour averaged over the kept repeats
    first = np.flatnonzero(truth["image_ids"] == data.meta["validation_image_ids"][0])[:3]
    np.testing.assert_allclose(data.val_behavior[0], [first.mean(), 2 * first.mean(), 0.5])
    assert data.train_pupil.shape == (10, 2)
