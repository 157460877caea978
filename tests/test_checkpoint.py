"""Checkpoint files: named arrays and JSON metadata round-trip exactly; no pickles; old layout read."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from msc_neuro_cli.errors import StoreError
from msc_neuro_cli.runs.checkpoint import load_checkpoint, previous_path, read_checkpoint, save_checkpoint


def test_named_arrays_and_meta_round_trip(tmp_path):
    arrays = {"weights.0": np.arange(6, dtype=np.float32).reshape(2, 3), "early_stopping.wait": np.array([1, 0])}
    meta = {"epoch": 7, "reps": [0, 1], "curves": {"0": [{"epoch": 0, "loss": 1.5}]}}
    path = tmp_path / "c.npz"
    save_checkpoint(path, arrays, meta)
    loaded, loaded_meta = load_checkpoint(path)
    assert loaded_meta == meta and sorted(loaded) == sorted(arrays)
    for name, value in arrays.items():
        np.testing.assert_array_equal(loaded[name], value)
        assert loaded[name].dtype == value.dtype
    assert load_checkpoint(tmp_path / "none.npz") is None


def test_object_arrays_and_garbage_are_refused(tmp_path):
    path = tmp_path / "c.npz"
    np.savez(path, **{"weights.0": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(StoreError, match="unreadable checkpoint"):
        read_checkpoint(path)
    path.write_bytes(b"not a zip")
    with pytest.raises(StoreError, match=f"{path}: unreadable checkpoint"):
        read_checkpoint(path)
    assert load_checkpoint(path) is None  # nothing to fall back to: a fresh start


def _save(path, epoch):
    save_checkpoint(path, {"weights.0": np.full(3, float(epoch))}, {"epoch": epoch})


def test_damaged_latest_checkpoint_falls_back_to_the_previous_one(tmp_path, capsys):
    path = tmp_path / "checkpoint.npz"
    _save(path, 1)
    _save(path, 2)
    assert read_checkpoint(previous_path(path))[1]["epoch"] == 1  # the one replaced is kept
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])                        # a truncated write
    arrays, meta = load_checkpoint(path)
    assert meta["epoch"] == 1 and arrays["weights.0"].tolist() == [1.0, 1.0, 1.0]
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and "previous checkpoint" in err


def test_checksum_catches_changed_array_bytes(tmp_path, capsys):
    path = tmp_path / "checkpoint.npz"
    _save(path, 1)
    arrays, meta = read_checkpoint(path)
    # a checkpoint whose arrays differ from the checksum it carries (bytes flipped on disk)
    buffer = io.BytesIO()
    np.savez(buffer, **{"weights.0": arrays["weights.0"] + 1,
                        "__meta__": np.frombuffer(json.dumps({**meta, "sha256": "0" * 64}).encode(), np.uint8)})
    path.write_bytes(buffer.getvalue())
    with pytest.raises(StoreError, match="checksum"):
        read_checkpoint(path)
    assert load_checkpoint(path) is None
    assert "starting the repetitions afresh" in capsys.readouterr().err


def test_checkpoint_of_the_first_layout_is_read_with_names(tmp_path):
    meta = {"epoch": 3, "step": 12.0, "reps": [0], "count": 1, "non_trainable": 1, "curves": {"0": []}}
    buffer = io.BytesIO()
    np.savez(buffer, w0=np.ones(2), m0=np.full(2, 2.0), v0=np.full(2, 3.0), n0=np.zeros(1),
             lr_scale=np.ones(1), es_wait=np.array([2]),
             meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    path = tmp_path / "old.npz"
    path.write_bytes(buffer.getvalue())
    arrays, new_meta = load_checkpoint(path)
    assert sorted(arrays) == ["adam.lr_scale", "adam.m.0", "adam.v.0", "early_stopping.wait", "statistics.0", "weights.0"]
    np.testing.assert_array_equal(arrays["adam.v.0"], [3.0, 3.0])
    assert new_meta["epoch"] == 3 and new_meta["state"] == {"adam.step": 12.0} and new_meta["reps"] == [0]
