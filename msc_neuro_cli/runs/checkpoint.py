"""A training group's checkpoint: named state arrays plus JSON metadata in one ``.npz`` file.

The trainer names its state (``weights.0``, ``adam.m.0``, ``lbfgs.s.0``, ``early_stopping.wait``,
...); the worker adds what it needs to resume (repetitions, curves) to the metadata. The file is
written atomically and read without pickles.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from msc_neuro_cli.errors import StoreError
from msc_neuro_cli.store.fsutil import atomic_write_bytes

META_KEY = "__meta__"


def save_checkpoint(path: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    if META_KEY in arrays:
        raise ValueError(f"state array name {META_KEY!r} is reserved")
    payload = dict(arrays)
    payload[META_KEY] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **payload)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
    """(arrays, meta), or None when there is no checkpoint. Raises StoreError if unreadable."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        if META_KEY in arrays:
            return arrays, json.loads(bytes(arrays.pop(META_KEY)).decode())
        return _from_first_layout(arrays)
    except (OSError, KeyError, ValueError) as exc:
        raise StoreError(f"{path}: unreadable checkpoint ({exc}); delete it to restart the run") from None


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
