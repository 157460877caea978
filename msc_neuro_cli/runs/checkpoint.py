"""A training group's checkpoint: named state arrays plus JSON metadata in one ``.npz`` file.

The trainer names its state (``weights.0``, ``adam.m.0``, ``lbfgs.s.0``, ``early_stopping.wait``,
...); the worker adds what it needs to resume (repetitions, curves) to the metadata. The file is
written atomically and read without pickles; its metadata carries a sha256 of the arrays, and the
previous checkpoint is kept next to it, so a damaged latest one falls back to the one before.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from msc_neuro_cli.errors import StoreError
from msc_neuro_cli.store.fsutil import atomic_write_bytes

META_KEY = "__meta__"


def previous_path(path: Path) -> Path:
    """Where the previous good checkpoint is kept (``checkpoint.prev.npz``)."""
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def _digest(arrays: dict[str, np.ndarray]) -> str:
    """sha256 over the state arrays (name, dtype, shape, bytes), in name order."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        value = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{value.dtype.str}|{value.shape}|".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def save_checkpoint(path: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Write the checkpoint atomically, keeping the one it replaces as ``checkpoint.prev.npz``."""
    if META_KEY in arrays:
        raise ValueError(f"state array name {META_KEY!r} is reserved")
    payload = dict(arrays)
    payload[META_KEY] = np.frombuffer(json.dumps({**meta, "sha256": _digest(arrays)}).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **payload)
    if path.exists():
        os.replace(path, previous_path(path))
    atomic_write_bytes(path, buffer.getvalue())


def remove_checkpoints(path: Path) -> None:
    """Delete a checkpoint and the previous one (the group they belong to is recorded)."""
    for each in (path, previous_path(path)):
        each.unlink(missing_ok=True)


def load_checkpoint(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
    """(arrays, meta) of the latest good checkpoint, or None when there is none. A damaged latest
    one falls back to the previous one, then to a fresh start, saying so on stderr in one line."""
    damaged = []
    for each in (path, previous_path(path)):
        if not each.exists():
            continue
        try:
            loaded = read_checkpoint(each)
        except StoreError as exc:
            damaged.append(str(exc))
            continue
        if damaged:
            print(f"neuro: {damaged[0]}; resuming from the previous checkpoint {each}", file=sys.stderr, flush=True)
        return loaded
    if damaged:
        print(f"neuro: {'; '.join(damaged)}; starting the repetitions afresh", file=sys.stderr, flush=True)
    return None


def read_checkpoint(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """(arrays, meta) of one checkpoint file; StoreError naming it if it is damaged."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        if META_KEY not in arrays:
            return _from_first_layout(arrays)
        meta = json.loads(bytes(arrays.pop(META_KEY)).decode())
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise StoreError(f"{path}: unreadable checkpoint ({' '.join(str(exc).split())})") from None
    expected = meta.pop("sha256", None)
    if expected is not None and expected != _digest(arrays):
        raise StoreError(f"{path}: damaged checkpoint (its checksum does not match its arrays)")
    return arrays, meta


def _from_first_layout(arrays: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Checkpoints written before state arrays had names (w0, m0, v0, n0, lr_scale, es_*, meta):
    an Adam run interrupted then resumes after an upgrade (an L-BFGS one restarts its history)."""
    meta = json.loads(bytes(arrays.pop("meta")).decode())
    renamed = {}
    for key, value in arrays.items():
        head, tail = key[0], key[1:]
        if key.startswith("es_"):
            renamed[f"early_stopping.{key[3:]}"] = value
        elif key == "lr_scale":
            renamed["adam.lr_scale"] = value
        elif head in "wmvn" and tail.isdigit():
            renamed[{"w": "weights", "m": "adam.m", "v": "adam.v", "n": "statistics"}[head] + f".{tail}"] = value
    return renamed, {"epoch": meta["epoch"], "reps": meta["reps"], "curves": meta["curves"],
                     "trainer": None, "state": {"adam.step": meta["step"]}}
