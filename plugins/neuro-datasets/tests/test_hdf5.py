"""The HDF5 container: pack, read back (memory-mapped and chunked), checksums, bad files; `data info`."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from msc_neuro_cli.api import Dataset, DatasetError
from neuro_datasets import Hdf5Dataset, merge_regions, region_raw
from neuro_datasets.describe import parse_params, reliability
from neuro_datasets.hdf5 import array_sha256, pack, read

REPO = Path(__file__).resolve().parents[3]


def region(name: str, neurons: int, repeats: int, seed: int, train: int = 30) -> Dataset:
    rng = np.random.default_rng(seed)
    raw = rng.poisson(2.0, (repeats, 6, neurons)).astype(np.float64)
    return Dataset(rng.random((train, 49)), rng.random((train, neurons)), rng.random((6, 49)), raw.mean(axis=0),
                   (7, 7, 1), raw, None, None, [(name, neurons)], {"source": name})


def test_round_trip_memory_mapped_and_chunked(tmp_path):
    data = region("region1", 4, 3, 0)
    sums = pack(data, tmp_path / "d.h5", {"source": "test"})
    assert set(sums) == {"train_x", "train_y", "val_x", "val_y", "raw_validation"}
    for mmap in (True, False):
        back = Hdf5Dataset({"path": "d.h5", "mmap": mmap, "verify": True}, tmp_path).load()
        assert isinstance(back.train_x, np.memmap) is mmap
        for name in ("train_x", "train_y", "val_x", "val_y", "raw_validation"):
            np.testing.assert_array_equal(getattr(back, name), getattr(data, name).astype(np.float32))
        assert back.input_dims == (7, 7, 1) and back.regions == [("region1", 4)]
        assert back.meta["source"] == "region1" and back.meta["provenance"] == {"source": "test"}
    with h5py.File(tmp_path / "d.h5") as f:
        assert f["train_x"].chunks is None and f.attrs["format"] == "neuro-dataset"


def test_merged_regions_keep_masks_and_repeats(tmp_path):
    merged = merge_regions([region("region1", 4, 3, 1), region("region2", 2, 5, 2, train=20)])
    pack(merged, tmp_path / "m.h5", {})
    back = read(tmp_path / "m.h5")
    np.testing.assert_array_equal(back.train_mask, merged.train_mask)
    assert back.regions == [("region1", 4), ("region2", 2)]
    for (name, raw), (name2, raw2) in zip(region_raw(back), region_raw(merged)):
        assert name == name2
        np.testing.assert_array_equal(raw, raw2.astype(np.float32))
    rows = reliability(back)
    assert [r["region"] for r in rows] == ["region1", "region2", "all (neuron-weighted)"]
    assert rows[2]["neurons"] == 6


def test_corruption_is_detected(tmp_path):
    data = region("region1", 4, 3, 0)
    pack(data, tmp_path / "d.h5", {})
    with h5py.File(tmp_path / "d.h5", "r+") as f:
        f["val_y"][0, 0] = 123.0
    read(tmp_path / "d.h5")  # without verification it loads
    with pytest.raises(DatasetError, match=r"d.h5: array 'val_y' does not match its stored SHA-256"):
        read(tmp_path / "d.h5", verify=True)


def test_bad_files(tmp_path):
    with pytest.raises(DatasetError, match="missing file"):
        Hdf5Dataset({"path": "nope.h5"}, tmp_path).check()
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(DatasetError, match="text.h5: not a readable HDF5 file"):
        read(tmp_path / "text.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(DatasetError, match="other.h5: not a neuro dataset container"):
        read(tmp_path / "other.h5")


def test_sha256_is_chunk_independent():
    a = np.random.default_rng(0).random((10, 3))
    assert array_sha256(a, rows=3) == array_sha256(a, rows=100)


def test_parse_params():
    assert parse_params(["regions=[1, 2]", "path=x/y", "mmap=false"]) == {
        "regions": [1, 2], "path": "x/y", "mmap": False}
    with pytest.raises(DatasetError, match="expected key=value"):
        parse_params(["regions"])


@pytest.mark.slow
def test_cli_pack_then_info(tmp_path, capsys, monkeypatch):
    """Through the `neuro` entry point, in-process (loads every plugin once)."""
    from msc_neuro_cli.api.testing import cli_main as main

    monkeypatch.chdir(REPO)
    monkeypatch.setenv("COLUMNS", "200")

    def run(*args) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exit_:
            main(list(args))
        captured = capsys.readouterr()
        return exit_.value.code or 0, captured.out, captured.err

    out = tmp_path / "syn.h5"
    code, _, err = run("data", "pack", "synthetic", str(out))
    assert code == 0, err
    code, shown, err = run("data", "info", str(out), "-p", "verify=true")
    assert code == 0, err
    assert "1800x961" in shown and "region1" in shown and "CCmax" in shown
    code, _, err = run("data", "info", "synthetic", "-p", "regoin=2")
    assert code == 2 and "unknown key 'regoin'" in err
