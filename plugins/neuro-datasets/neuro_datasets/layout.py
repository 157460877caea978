"""Reading one region of the Antolik et al. 2016 layout (also used by the synthetic dataset).

A region folder holds ``training_inputs.npy`` (images, D), ``training_set.npy`` (images, neurons),
``validation_inputs.npy``, ``validation_set.npy`` and optionally ``raw_validation_set.npy``
(repeats, images, neurons). Images are flattened squares (D = side * side).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from msc_neuro_cli.api import Dataset, DatasetError

REQUIRED = ("training_inputs", "training_set", "validation_inputs", "validation_set")
OPTIONAL = ("raw_validation_set",)


def region_dir(root: Path, region: int) -> Path:
    """``<root>/Data/region{r}`` or ``<root>/region{r}``, whichever exists."""
    for candidate in (root / "Data" / f"region{region}", root / f"region{region}"):
        if candidate.is_dir():
            return candidate
    if not root.exists():
        raise DatasetError(f"{root}: dataset folder does not exist")
    raise DatasetError(f"{root}: no region{region} folder (looked for {root / 'Data' / f'region{region}'} "
                       f"and {root / f'region{region}'})")


def load_array(path: Path, ndim: int | tuple[int, ...]) -> np.ndarray:
    """Load one .npy file with ``ndim`` dimensions (or one of them); one-line errors naming the file."""
    if not path.is_file():
        raise DatasetError(f"{path}: missing file")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DatasetError(f"{path}: not a readable .npy array ({exc})") from None
    if not np.issubdtype(array.dtype, np.floating) and not np.issubdtype(array.dtype, np.integer):
        raise DatasetError(f"{path}: expected numbers, got dtype {array.dtype}")
    allowed = ndim if isinstance(ndim, tuple) else (ndim,)
    if array.ndim not in allowed:
        raise DatasetError(f"{path}: expected a {' or '.join(map(str, allowed))}-D array, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise DatasetError(f"{path}: contains NaN or inf values")
    return array


def square_side(columns: int, path: Path) -> int:
    side = math.isqrt(columns)
    if side * side != columns:
        raise DatasetError(f"{path}: {columns} pixels per image is not a square image")
    return side


def read_region(folder: Path, name: str) -> Dataset:
    """Read one region folder into a Dataset (float64, no preprocessing)."""
    arrays = {key: load_array(folder / f"{key}.npy", 2) for key in REQUIRED}
    raw_path = folder / "raw_validation_set.npy"
    raw = load_array(raw_path, 3) if raw_path.exists() else None
    train_x, train_y = arrays["training_inputs"], arrays["training_set"]
    val_x, val_y = arrays["validation_inputs"], arrays["validation_set"]
    path = folder / "training_inputs.npy"
    side = square_side(train_x.shape[1], path)
    if val_x.shape[1] != train_x.shape[1]:
        raise DatasetError(f"{folder / 'validation_inputs.npy'}: {val_x.shape[1]} pixels per image, "
                           f"training_inputs.npy has {train_x.shape[1]}")
    if len(train_x) != len(train_y):
        raise DatasetError(f"{folder / 'training_set.npy'}: {len(train_y)} rows but training_inputs.npy "
                           f"has {len(train_x)} images")
    if len(val_x) != len(val_y):
        raise DatasetError(f"{folder / 'validation_set.npy'}: {len(val_y)} rows but validation_inputs.npy "
                           f"has {len(val_x)} images")
    if val_y.shape[1] != train_y.shape[1]:
        raise DatasetError(f"{folder / 'validation_set.npy'}: {val_y.shape[1]} neurons but training_set.npy "
                           f"has {train_y.shape[1]}")
    if raw is not None and raw.shape[1:] != val_y.shape:
        raise DatasetError(f"{raw_path}: shape {raw.shape} does not match validation_set.npy "
                           f"{val_y.shape} as (repeats, images, neurons)")
    as64 = lambda a: a.astype(np.float64, copy=False)  # noqa: E731
    return Dataset(as64(train_x), as64(train_y), as64(val_x), as64(val_y), (side, side, 1),
                   as64(raw) if raw is not None else None, None, None, [(name, int(train_y.shape[1]))],
                   {"source": str(folder)})
