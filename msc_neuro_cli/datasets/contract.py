"""The dataset contract: what a dataset plugin yields, and the seed's input preprocessing.

A dataset plugin registers a :class:`DatasetSource` subclass. The manifest's ``dataset:`` entry
names it and gives its parameters (validated against ``PARAMS``), plus an optional
``preprocess:`` block handled here for every dataset alike.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from msc_neuro_cli.datasets import lazy_arrays as lazy
from msc_neuro_cli.errors import DatasetError
from msc_neuro_cli.plugin_system.params import Param


@dataclass
class Dataset:
    """Arrays of one (possibly multi-region) dataset, rows = images, columns = neurons.

    ``raw_validation`` holds the single-trial validation responses (repeats, images, neurons) when
    the dataset has repeats (noise ceilings need them). Masks are 1 where an output counts:
    multi-region datasets have block masks (each region's neurons only on its own images).
    """

    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray
    input_dims: tuple[int, int, int]
    raw_validation: np.ndarray | None = None
    train_mask: np.ndarray | None = None
    val_mask: np.ndarray | None = None
    regions: list[tuple[str, int]] = field(default_factory=list)  # (name, neurons) in column order
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_neurons(self) -> int:
        return int(self.train_y.shape[1])

    def checksum(self) -> str:
        """SHA-256 over the arrays as trained on (after preprocessing); lazy arrays are hashed in
        row blocks, which gives the same digest as their in-memory bytes."""
        digest = hashlib.sha256()
        for array in (self.train_x, self.train_y, self.val_x, self.val_y):
            if lazy.is_lazy(array):
                for _, block in array.iter_blocks():
                    digest.update(np.ascontiguousarray(block))  # the same bytes, without a copy
            else:
                digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()

    @property
    def is_lazy(self) -> bool:
        """True when the training arrays stay on disk (train with the streaming trainer)."""
        return any(lazy.is_lazy(a) for a in (self.train_x, self.train_y, self.train_mask))


class DatasetSource:
    """Base of dataset plugins. ``base_dir`` is the manifest's folder (relative paths start there)."""

    PARAMS: ClassVar[dict[str, Param]] = {}
    description: ClassVar[str] = ""

    def __init__(self, params: dict[str, Any], base_dir: Path):
        self.params = params
        self.base_dir = Path(base_dir)

    def resolve(self, path: str | Path) -> Path:
        path = Path(path).expanduser()
        return path if path.is_absolute() else self.base_dir / path

    def check(self) -> None:
        """Cheap check before any run is planned (paths exist...). Raise DatasetError."""

    def load(self) -> Dataset:
        raise NotImplementedError


PREPROCESS_PARAMS = {
    "inputs": Param(str, "none", "input transform: none, scale, zscore (one scalar mean/std), std",
                    choices=("none", "scale", "zscore", "std")),
    "scale": Param((int, float), 1.0, "factor for inputs: scale (the seed used 1e6)"),
    "stats": Param(str, "train", "statistics from the training split ('train') or each split "
                   "separately as the seed did ('per_split')", choices=("train", "per_split")),
    "outputs": Param(str, "none", "output transform: none or std (divide by each neuron's std)",
                     choices=("none", "std")),
}


def _mean_std(reference) -> tuple[float, float]:
    """One scalar mean/std; lazy arrays blockwise in float64 (numpy arrays exactly as before)."""
    if lazy.is_lazy(reference):
        mean, var, _ = lazy.moments(reference)
        return float(mean), float(np.sqrt(var))
    return float(reference.mean()), float(reference.std())


def _column_std(reference) -> np.ndarray:
    if lazy.is_lazy(reference):
        _, var, _ = lazy.moments(reference, axis=0)
        return np.sqrt(var).astype(reference.dtype)  # divide in the array's precision, as in memory
    return reference.std(axis=0)


def _apply(array, sub=None, mul=None, div=None):
    """((array - sub) * mul) / div as float32: applied now for numpy arrays, as rows are read for
    lazy ones (same operations, same order, same precision)."""
    if lazy.is_lazy(array):
        if sub is None and mul is None and div is None and array.dtype == np.float32:
            return array
        return lazy.TransformedArray(array, sub, mul, div)
    if sub is not None:
        array = array - sub
    if mul is not None:
        array = array * mul
    if div is not None:
        array = array / div
    return array.astype(np.float32)


def _input_transform(mode: str, scale: float, reference) -> dict[str, Any]:
    if mode == "none":
        return {}
    if mode == "scale":
        return {"mul": scale}
    mean, std = _mean_std(reference)
    if std == 0:
        raise DatasetError("cannot normalise inputs: their standard deviation is 0")
    if mode == "zscore":
        return {"sub": mean, "div": std}
    return {"div": std}  # "std"


def preprocess(data: Dataset, options: dict[str, Any]) -> Dataset:
    """Apply the seed's input/output normalisations (``utils/data.py``).

    Lazy (on-disk) arrays stay lazy: statistics are computed in row blocks (float64) and the
    transform is applied as rows are read. Their statistics can differ from the in-memory ones in
    the last float32 bit (numpy sums float32 arrays in float32).
    """
    mode, scale, stats = options["inputs"], float(options["scale"]), options["stats"]
    if stats == "per_split":
        train_x = _apply(data.train_x, **_input_transform(mode, scale, data.train_x))
        val_x = _apply(data.val_x, **_input_transform(mode, scale, data.val_x))
    else:
        transform = _input_transform(mode, scale, data.train_x)
        train_x, val_x = _apply(data.train_x, **transform), _apply(data.val_x, **transform)
    train_y, val_y, raw = data.train_y, data.val_y, data.raw_validation
    if options["outputs"] == "std":
        std = _column_std(data.train_y)
        std = np.where(std > 0, std, 1.0)
        train_y, val_y = _apply(train_y, div=std), _apply(val_y, div=std)
        raw = raw / std if raw is not None else None
    else:
        train_y, val_y = _apply(train_y), _apply(val_y)
    return Dataset(train_x, train_y, val_x, val_y, data.input_dims, raw, data.train_mask, data.val_mask,
                   data.regions, data.meta)


def validate(data: Dataset, where: str) -> None:
    """Shape and value checks every dataset passes before training (one-line errors)."""
    for name in ("train_x", "train_y", "val_x", "val_y"):
        array = getattr(data, name)
        if array.ndim != 2:
            raise DatasetError(f"{where}: {name} must be 2-D (rows, columns), got shape {array.shape}")
        if not np.issubdtype(array.dtype, np.floating):
            raise DatasetError(f"{where}: {name} must hold floats, got dtype {array.dtype}")
        if lazy.is_lazy(array):  # blockwise, and name the file the rows come from
            row = lazy.first_nonfinite(array)
            if row is not None:
                raise DatasetError(f"{where}: {name} contains NaN or inf values "
                                   f"(first in row {row} of {array.describe()})")
        elif not np.all(np.isfinite(array)):
            raise DatasetError(f"{where}: {name} contains NaN or inf values")
    if len(data.train_x) != len(data.train_y):
        raise DatasetError(f"{where}: {len(data.train_x)} training inputs but {len(data.train_y)} responses")
    if len(data.val_x) != len(data.val_y):
        raise DatasetError(f"{where}: {len(data.val_x)} validation inputs but {len(data.val_y)} responses")
    if data.train_y.shape[1] != data.val_y.shape[1]:
        raise DatasetError(f"{where}: training has {data.train_y.shape[1]} neurons, validation {data.val_y.shape[1]}")
    features = int(np.prod(data.input_dims))
    if data.train_x.shape[1] != features or data.val_x.shape[1] != features:
        raise DatasetError(f"{where}: inputs have {data.train_x.shape[1]} columns, images {data.input_dims} need {features}")
