"""The antolik2016 source on the real published files (stand-in training images), merging, errors."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

from msc_neuro_cli.api import PREPROCESS_PARAMS, DatasetError, preprocess, validate
from neuro_datasets import AntolikDataset, merge_regions, region_raw

SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "antolik2016" / "Data"
TRAIN_IMAGES = {1: 1800, 2: 1260, 3: 1800}
NEURONS = {1: 103, 2: 55, 3: 102}
REPEATS = {1: 10, 2: 8, 3: 12}

pytestmark = pytest.mark.skipif(not SHARED.exists(), reason="shared Antolik data not present")


def stand_in_inputs(region: int) -> np.ndarray:
    rng = np.random.default_rng(region)
    return rng.integers(0, 256, (TRAIN_IMAGES[region], 961)).astype(np.float64) / 1e6


@pytest.fixture(scope="module")
def antolik(tmp_path_factory) -> Path:
    """<root>/Data/region{1,2,3}/ with the real files and stand-in training_inputs.npy."""
    root = tmp_path_factory.mktemp("antolik")
    for region in (1, 2, 3):
        folder = root / "Data" / f"region{region}"
        folder.mkdir(parents=True)
        for f in (SHARED / f"region{region}").glob("*.npy"):
            (folder / f.name).symlink_to(f)
        np.save(folder / "training_inputs.npy", stand_in_inputs(region))
    return root


def source(root: Path, **params) -> AntolikDataset:
    return AntolikDataset({"path": str(root), "regions": [1], **params}, root.parent)


def options(**kw):
    return {**{k: p.default for k, p in PREPROCESS_PARAMS.items()}, **kw}


def test_one_region(antolik):
    data = source(antolik).load()
    assert data.train_x.shape == (1800, 961) and data.train_y.shape == (1800, 103)
    assert data.input_dims == (31, 31, 1) and data.regions == [("region1", 103)]
    assert data.raw_validation.shape == (10, 50, 103)
    np.testing.assert_allclose(data.val_y, data.raw_validation.mean(axis=0), rtol=1e-12)
    validate(data, "test")


def test_region_folder_without_data_level(antolik, tmp_path):
    (tmp_path / "region2").symlink_to(antolik / "Data" / "region2")
    data = AntolikDataset({"path": ".", "regions": [2]}, tmp_path).load()
    assert data.regions == [("region2", 55)]


def test_three_regions_merge_block_diagonal(antolik):
    src = source(antolik, regions=[1, 2, 3])
    data = src.load()
    assert data.train_x.shape == (4860, 961) and data.train_y.shape == (4860, 260)
    assert data.val_x.shape == (150, 961) and data.regions == [("region1", 103), ("region2", 55), ("region3", 102)]
    # Region 2's neurons are only defined on region 2's images.
    block = np.zeros((4860, 260), bool)
    block[:1800, :103] = block[1800:3060, 103:158] = block[3060:, 158:] = True
    np.testing.assert_array_equal(data.train_mask, block.astype(np.float32))
    assert np.all(data.train_y[~block] == 0)
    np.testing.assert_array_equal(data.train_y[1800:3060, 103:158],
                                  np.load(antolik / "Data/region2/training_set.npy"))
    np.testing.assert_array_equal(data.val_mask.sum(axis=0), np.full(260, 50))
    # Raw repeats: NaN padded to 12 repeats; region_raw gives each region back exactly.
    assert data.raw_validation.shape == (12, 150, 260)
    for (name, raw), region in zip(region_raw(data), (1, 2, 3)):
        assert name == f"region{region}"
        np.testing.assert_array_equal(raw, np.load(antolik / f"Data/region{region}/raw_validation_set.npy"))
    validate(data, "test")


def test_per_region_preprocessing_then_merge(antolik):
    """The thesis pipeline z-scored each region with its own statistics before merging."""
    src = source(antolik, regions=[1, 2])
    parts = [preprocess(p, options(inputs="zscore")) for p in src.load_regions()]
    merged = src.merge(parts)
    for rows in ((slice(0, 1800)), slice(1800, 3060)):
        x = merged.train_x[rows].astype(np.float64)
        assert abs(x.mean()) < 1e-4 and abs(x.std() - 1) < 1e-4
    raw_two = np.load(antolik / "Data/region2/training_inputs.npy")
    np.testing.assert_allclose(merged.train_x[1800:], (raw_two - raw_two.mean()) / raw_two.std(), rtol=1e-4,
                               atol=1e-5)


def test_merge_rejects_different_image_sizes(antolik):
    one = source(antolik).load()
    small = dataclasses.replace(one, input_dims=(30, 30, 1))
    with pytest.raises(DatasetError, match="different image sizes"):
        merge_regions([one, small])


def _copy_region(antolik: Path, tmp_path: Path) -> Path:
    root = tmp_path / "bad"
    shutil.copytree(antolik / "Data" / "region1", root / "Data" / "region1", symlinks=False)
    return root


def test_missing_file_is_named(antolik, tmp_path):
    root = _copy_region(antolik, tmp_path)
    (root / "Data/region1/training_set.npy").unlink()
    with pytest.raises(DatasetError, match=r"region1/training_set.npy: missing file"):
        source(root).load()


def test_missing_region_and_path(antolik, tmp_path):
    with pytest.raises(DatasetError, match="no region4 folder"):
        source(antolik, regions=[4]).check()
    with pytest.raises(DatasetError, match="does not exist"):
        source(tmp_path / "nowhere").check()


def test_non_square_images(antolik, tmp_path):
    root = _copy_region(antolik, tmp_path)
    np.save(root / "Data/region1/training_inputs.npy", np.zeros((1800, 960)))
    with pytest.raises(DatasetError, match=r"training_inputs.npy: 960 pixels per image is not a square"):
        source(root).load()


def test_nan_and_mismatched_counts(antolik, tmp_path):
    root = _copy_region(antolik, tmp_path)
    bad = np.load(root / "Data/region1/validation_set.npy")
    bad[3, 4] = np.nan
    np.save(root / "Data/region1/validation_set.npy", bad)
    with pytest.raises(DatasetError, match=r"validation_set.npy: contains NaN"):
        source(root).load()
    np.save(root / "Data/region1/validation_set.npy", np.zeros((50, 103)))
    np.save(root / "Data/region1/training_set.npy", np.zeros((1799, 103)))
    with pytest.raises(DatasetError, match=r"training_set.npy: 1799 rows but training_inputs.npy has 1800"):
        source(root).load()


def test_pickled_or_wrong_dtype_arrays_are_refused(antolik, tmp_path):
    root = _copy_region(antolik, tmp_path)
    np.save(root / "Data/region1/training_set.npy", np.array([{"a": 1}] * 3, dtype=object), allow_pickle=True)
    with pytest.raises(DatasetError, match=r"training_set.npy: not a readable"):
        source(root).load()
    np.save(root / "Data/region1/training_set.npy", np.array([["a"] * 103] * 1800))
    with pytest.raises(DatasetError, match=r"training_set.npy: expected numbers"):
        source(root).load()


def test_regions_param_check():
    from neuro_datasets.antolik import _check_regions

    assert _check_regions([1, 3]) is None
    assert "twice" in _check_regions([1, 1])
    assert "positive" in _check_regions([0])
    assert "at least one" in _check_regions([])
