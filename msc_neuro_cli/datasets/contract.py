"""The dataset contract: what a dataset plugin yields, and the thesis pipeline's input preprocessing.

A dataset plugin registers a :class:`DatasetSource` subclass. The manifest's ``dataset:`` entry
names it and gives its parameters (validated against ``PARAMS``), plus an optional
``preprocess:`` block handled here for every dataset alike. Beyond ``load()`` a source may offer
three optional capabilities, declared in ``CAPABILITIES`` (:class:`Capabilities`, all off by
default); :func:`msc_neuro_cli.datasets.loading.load_dataset` reads them and checks the
promise is kept.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
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
    # A test tier (``Capabilities.tiers``): single trials, rows = trials; ``test_image_ids`` says
    # which image each trial showed (repeats of one image share an id). None when absent.
    test_x: np.ndarray | None = None
    test_y: np.ndarray | None = None
    test_mask: np.ndarray | None = None
    test_image_ids: np.ndarray | None = None
    # Per-row side variables (``Capabilities.behavior``): (rows, k) behaviour variables and
    # (rows, 2) pupil centre of every tier's rows. None when absent.
    train_behavior: np.ndarray | None = None
    val_behavior: np.ndarray | None = None
    test_behavior: np.ndarray | None = None
    train_pupil: np.ndarray | None = None
    val_pupil: np.ndarray | None = None
    test_pupil: np.ndarray | None = None

    @property
    def n_neurons(self) -> int:
        return int(self.train_y.shape[1])

    @property
    def has_test_tier(self) -> bool:
        """True when the validation rows are a tier of their own and a test tier is kept apart."""
        return self.test_x is not None

    def checksum(self) -> str:
        """SHA-256 over the arrays as trained on (after preprocessing); lazy arrays are hashed in
        row blocks, which gives the same digest as their in-memory bytes."""
        digest = hashlib.sha256()
        extra = [a for a in (self.test_x, self.test_y, *self.side_arrays().values()) if a is not None]
        for array in (self.train_x, self.train_y, self.val_x, self.val_y, *extra):
            if lazy.is_lazy(array):
                for _, block in array.iter_blocks():
                    digest.update(np.ascontiguousarray(block))  # the same bytes, without a copy
            else:
                digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()

    def side_arrays(self) -> dict[str, np.ndarray | None]:
        """The behaviour and pupil arrays of every tier, by field name."""
        return {f"{tier}_{kind}": getattr(self, f"{tier}_{kind}")
                for kind in ("behavior", "pupil") for tier in ("train", "val", "test")}

    @property
    def is_lazy(self) -> bool:
        """True when the training arrays stay on disk (train with the streaming trainer)."""
        return any(lazy.is_lazy(a) for a in (self.train_x, self.train_y, self.train_mask))


@dataclass(frozen=True)
class Capabilities:
    """What a :class:`DatasetSource` offers beyond ``load()``; every capability is off by default.

    - ``regions``: the source has ``load_regions() -> list[Dataset]`` (one un-preprocessed dataset
      per recording region) and ``merge(parts) -> Dataset``; each region is preprocessed on its own,
      then merged. Default: ``load()`` is preprocessed as a whole.
    - ``tiers``: the datasets it loads keep three tiers apart: ``train_*`` rows, ``val_*`` rows
      that are a validation tier of their own (early stopping and learning-rate decay watch it
      instead of a slice of the training rows), and ``test_*`` rows (with ``test_image_ids``)
      scored once at the end. Default: no test tier, validation as before.
    - ``behavior``: per-row behaviour variables and pupil centre of every tier
      (``train_behavior``/``val_behavior``/``test_behavior``, ``train_pupil``/...). Default: None.
    """

    regions: bool = False
    tiers: bool = False
    behavior: bool = False


class DatasetSource:
    """Base of dataset plugins. ``base_dir`` is the manifest's folder (relative paths start there)."""

    PARAMS: ClassVar[dict[str, Param]] = {}
    CAPABILITIES: ClassVar[Capabilities] = Capabilities()
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

    def load_regions(self) -> list[Dataset]:
        """``Capabilities.regions``: one un-preprocessed Dataset per region."""
        raise NotImplementedError(f"{type(self).__name__} does not declare Capabilities(regions=True)")

    def merge(self, parts: list[Dataset]) -> Dataset:
        """``Capabilities.regions``: one Dataset from the preprocessed regions."""
        raise NotImplementedError(f"{type(self).__name__} does not declare Capabilities(regions=True)")


PREPROCESS_PARAMS = {
    "inputs": Param(str, "none", "input transform: none, scale, zscore (one scalar mean/std), std",
                    choices=("none", "scale", "zscore", "std")),
    "scale": Param((int, float), 1.0, "factor for inputs: scale (the thesis pipeline used 1e6)"),
    "stats": Param(str, "train", "statistics from the training split ('train') or each split "
                   "separately as the thesis pipeline did ('per_split')", choices=("train", "per_split")),
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
    """Apply the thesis pipeline's input/output normalisations (``utils/data.py``).

    Lazy (on-disk) arrays stay lazy: statistics are computed in row blocks (float64) and the
    transform is applied as rows are read. Their statistics can differ from the in-memory ones in
    the last float32 bit (numpy sums float32 arrays in float32).
    """
    mode, scale, stats = options["inputs"], float(options["scale"]), options["stats"]
    inputs = {"train": data.train_x, "val": data.val_x, "test": data.test_x}
    outputs = {"train": data.train_y, "val": data.val_y, "test": data.test_y}
    if stats == "per_split":
        xs = {k: x if x is None else _apply(x, **_input_transform(mode, scale, x)) for k, x in inputs.items()}
    else:
        transform = _input_transform(mode, scale, data.train_x)
        xs = {k: x if x is None else _apply(x, **transform) for k, x in inputs.items()}
    raw = data.raw_validation
    if options["outputs"] == "std":
        std = _column_std(data.train_y)
        std = np.where(std > 0, std, 1.0)
        ys = {k: y if y is None else _apply(y, div=std) for k, y in outputs.items()}
        raw = raw / std if raw is not None else None
    else:
        ys = {k: y if y is None else _apply(y) for k, y in outputs.items()}
    return replace(data, train_x=xs["train"], val_x=xs["val"], test_x=xs["test"],
                   train_y=ys["train"], val_y=ys["val"], test_y=ys["test"], raw_validation=raw)


def validate(data: Dataset, where: str) -> None:
    """Shape and value checks every dataset passes before training (one-line errors)."""
    tiers = ("test_x", "test_y") if data.test_x is not None or data.test_y is not None else ()
    for name in ("train_x", "train_y", "val_x", "val_y", *tiers):
        array = getattr(data, name)
        if array is None:
            raise DatasetError(f"{where}: {name} is missing (a test tier needs test_x and test_y)")
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
    _validate_tiers(data, where)


def _validate_tiers(data: Dataset, where: str) -> None:
    """The optional test tier and side arrays: one row per row of their tier."""
    rows = {"train": len(data.train_x), "val": len(data.val_x),
            "test": None if data.test_x is None else len(data.test_x)}
    if data.test_x is not None:
        if len(data.test_y) != rows["test"] or data.test_y.shape[1] != data.n_neurons:
            raise DatasetError(f"{where}: test_y has shape {data.test_y.shape}, expected ({rows['test']}, {data.n_neurons})")
        if data.test_x.shape[1] != data.train_x.shape[1]:
            raise DatasetError(f"{where}: test_x has {data.test_x.shape[1]} columns, training inputs {data.train_x.shape[1]}")
        if data.test_image_ids is not None and len(data.test_image_ids) != rows["test"]:
            raise DatasetError(f"{where}: {len(data.test_image_ids)} test_image_ids for {rows['test']} test rows")
        if data.test_mask is not None and data.test_mask.shape != data.test_y.shape:
            raise DatasetError(f"{where}: test_mask has shape {data.test_mask.shape}, test_y {data.test_y.shape}")
    for name, array in data.side_arrays().items():
        if array is None:
            continue
        expected = rows[name.split("_")[0]]
        if expected is None or array.ndim != 2 or len(array) != expected:
            raise DatasetError(f"{where}: {name} has shape {np.shape(array)}, expected ({expected}, k)")
        if not np.all(np.isfinite(array)):
            raise DatasetError(f"{where}: {name} contains NaN or inf values")
