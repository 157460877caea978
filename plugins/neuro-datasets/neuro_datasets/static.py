"""``static``: the Sinz-lab FileTree layout of static (image) datasets (neuralpredictors).

::

    <path>/data/images/<trial>.npy        one image per trial: (H, W) or (C, H, W)
    <path>/data/responses/<trial>.npy     (neurons,)
    <path>/data/behavior/, pupil_center/  optional, not used by the models here
    <path>/meta/trials/tiers.npy          (trials,) "train" / "validation" / "test"
    <path>/meta/trials/frame_image_id.npy (trials,) which image was shown
    <path>/meta/neurons/unit_ids.npy      (neurons,)

Training rows are the trials of ``train_tiers`` (single trials). Validation rows are the distinct
images of ``validation_tier`` (default the test tier, whose images are repeated): their trials
are grouped by ``frame_image_id`` into ``raw_validation`` (repeats, images, neurons), keeping the
first R trials of each image where R is the smallest repeat count, and ``val_y`` is their mean.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from msc_neuro_cli.api import Capabilities, Dataset, DatasetError, DatasetSource, Param

from .layout import load_array

TIERS = ("train", "validation", "test")


def _check_crop(value: Any) -> str | None:
    if len(value) != 4 or any(not isinstance(v, int) or isinstance(v, bool) or v < 0 for v in value):
        return f"crop is [top, bottom, left, right] in pixels (4 non-negative integers), got {value!r}"
    return None


def _load_meta(path: Path) -> np.ndarray:
    if not path.is_file():
        raise DatasetError(f"{path}: missing file")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise DatasetError(f"{path}: not a readable .npy array without pickles ({exc})") from None


def _image(path: Path) -> np.ndarray:
    """One image as (H, W, C)."""
    image = load_array(path, (2, 3))
    return image[:, :, None] if image.ndim == 2 else np.moveaxis(image, 0, -1)  # (C, H, W) -> (H, W, C)


def _stack(paths: list[Path], read) -> np.ndarray:
    """Read one array per trial; all must have the first one's shape."""
    arrays = []
    for path in paths:
        array = read(path)
        if arrays and array.shape != arrays[0].shape:
            raise DatasetError(f"{path}: shape {array.shape} differs from {paths[0].name} {arrays[0].shape}")
        arrays.append(array)
    return np.stack(arrays).astype(np.float64)


def transform_images(images: np.ndarray, crop: list[int], downsample: int) -> np.ndarray:
    """Crop (top, bottom, left, right) then average ``downsample`` x ``downsample`` blocks."""
    top, bottom, left, right = crop
    n, h, w, c = images.shape
    if top + bottom >= h or left + right >= w:
        raise DatasetError(f"crop {crop} leaves no pixels of {h}x{w} images")
    images = images[:, top:h - bottom, left:w - right]
    if downsample > 1:
        h, w = images.shape[1] // downsample * downsample, images.shape[2] // downsample * downsample
        images = images[:, :h, :w].reshape(n, h // downsample, downsample, w // downsample, downsample, c)
        images = images.mean(axis=(2, 4))
    return images


class StaticDataset(DatasetSource):
    """Sinz-lab static FileTree dataset (mouse V1 responses to images)."""

    description = "Sinz-lab static FileTree layout (data/images, data/responses, meta/trials/tiers)"
    PARAMS = {
        "path": Param(str, help="folder holding data/ and meta/"),
        "train_tiers": Param(list, ["train"], "tiers used as single-trial training data",
                             check=lambda v: None if v and set(v) <= set(TIERS) else f"tiers are {TIERS}"),
        "validation_tier": Param(str, "test", "tier whose repeated images are the validation set",
                                 choices=TIERS),
        "crop": Param(list, [0, 0, 0, 0], "pixels cut from the top, bottom, left, right", check=_check_crop),
        "downsample": Param(int, 1, "average blocks of this many pixels per side", minimum=1),
        "neurons": Param(list, [], "unit_ids to keep (empty: all)"),
    }

    def root(self) -> Path:
        return self.resolve(self.params["path"])

    def check(self) -> None:
        root = self.root()
        for rel in ("data/images", "data/responses"):
            if not (root / rel).is_dir():
                raise DatasetError(f"{root / rel}: missing folder (not a static FileTree dataset?)")
        for rel in ("meta/trials/tiers.npy", "meta/trials/frame_image_id.npy"):
            if not (root / rel).is_file():
                raise DatasetError(f"{root / rel}: missing file")

    def _neuron_columns(self, root: Path, n: int) -> tuple[np.ndarray, list]:
        wanted = list(self.params.get("neurons") or [])
        ids_path = root / "meta/neurons/unit_ids.npy"
        ids = _load_meta(ids_path) if ids_path.exists() else np.arange(n)
        if len(ids) != n:
            raise DatasetError(f"{ids_path}: {len(ids)} unit ids but responses have {n} neurons")
        if not wanted:
            return np.arange(n), ids.tolist()
        index = {v: i for i, v in enumerate(ids.tolist())}
        missing = [w for w in wanted if w not in index]
        if missing:
            raise DatasetError(f"{ids_path}: unit ids {missing[:5]} not in the dataset")
        columns = np.array([index[w] for w in wanted])
        return columns, [ids.tolist()[c] for c in columns]

    def load(self) -> Dataset:
        self.check()
        root = self.root()
        tiers = _load_meta(root / "meta/trials/tiers.npy").astype(str)
        image_ids = _load_meta(root / "meta/trials/frame_image_id.npy")
        if len(tiers) != len(image_ids):
            raise DatasetError(f"{root / 'meta/trials/frame_image_id.npy'}: {len(image_ids)} entries but "
                               f"tiers.npy has {len(tiers)}")
        train_rows = np.flatnonzero(np.isin(tiers, self.params.get("train_tiers", ["train"])))
        val_rows = np.flatnonzero(tiers == self.params.get("validation_tier", "test"))
        if not len(train_rows) or not len(val_rows):
            raise DatasetError(f"{root / 'meta/trials/tiers.npy'}: no trials in the training or validation tiers")
        rows = np.concatenate([train_rows, val_rows])
        images = _stack([root / "data/images" / f"{r}.npy" for r in rows], _image)
        responses = _stack([root / "data/responses" / f"{r}.npy" for r in rows], lambda p: load_array(p, 1))
        images = transform_images(images, list(self.params.get("crop", [0, 0, 0, 0])),
                                  int(self.params.get("downsample", 1)))
        columns, unit_ids = self._neuron_columns(root, responses.shape[1])
        responses = responses[:, columns]
        dims = tuple(int(d) for d in images.shape[1:])
        flat = images.reshape(len(rows), -1)
        n_train = len(train_rows)
        # Group the validation tier's trials by image: (repeats, images, neurons).
        val_ids = image_ids[val_rows]
        unique = list(dict.fromkeys(val_ids.tolist()))
        groups = [np.flatnonzero(val_ids == u) for u in unique]
        repeats = min(len(g) for g in groups)
        raw = np.stack([responses[n_train + g[:repeats]] for g in groups], axis=1)
        val_x = flat[n_train + np.array([g[0] for g in groups])]
        meta = {"source": str(root), "unit_ids": unit_ids, "validation_image_ids": unique,
                "repeats": repeats, "dropped_repeats": int(sum(len(g) - repeats for g in groups))}
        return Dataset(flat[:n_train], responses[:n_train], val_x, raw.mean(axis=0), dims,
                       raw if repeats >= 2 else None, None, None, [("static", len(columns))], meta)
