"""Named state arrays of a trainer (what a checkpoint holds), and helpers to build and read them.

A trainer's ``state()`` is ``{"epoch": int, "arrays": {name: array}, "meta": {name: JSON value}}``
with names such as ``weights.0``, ``adam.m.0`` or ``early_stopping.best_loss``: every trainer
names exactly the state it has (L-BFGS keeps its (s, y) history, not Adam moments).
"""

from __future__ import annotations

from typing import Iterable

import numpy as np


def numbered(prefix: str, arrays: Iterable[np.ndarray]) -> dict[str, np.ndarray]:
    """{"prefix.0": a0, "prefix.1": a1, ...}."""
    return {f"{prefix}.{i}": np.asarray(a) for i, a in enumerate(arrays)}


def prefixed(prefix: str, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {f"{prefix}.{name}": value for name, value in arrays.items()}


def read_numbered(arrays: dict[str, np.ndarray], prefix: str) -> list[np.ndarray]:
    """The arrays named "prefix.0", "prefix.1", ... in order (none: [])."""
    found = {}
    for name, value in arrays.items():
        head, _, index = name.rpartition(".")
        if head == prefix and index.isdigit():
            found[int(index)] = value
    return [found[i] for i in sorted(found)]


def read_prefixed(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The arrays named "prefix.NAME", as {NAME: array}."""
    start = prefix + "."
    return {name[len(start):]: value for name, value in arrays.items() if name.startswith(start)}
