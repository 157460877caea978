"""``static``: the Sinz-lab FileTree layout of static (image) datasets (neuralpredictors).

::

    <path>/data/images/<trial>.npy        one image per trial: (H, W) or (C, H, W)
    <path>/data/responses/<trial>.npy     (neurons,)
    <path>/data/behavior/<trial>.npy      optional (k,) behaviour variables
    <path>/data/pupil_center/<trial>.npy  optional (2,) pupil centre
    <path>/meta/trials/tiers.npy          (trials,) "train" / "validation" / "test"
    <path>/meta/trials/frame_image_id.npy (trials,) which image was shown
    <path>/meta/neurons/unit_ids.npy      (neurons,)

Training rows are the trials of ``train_tiers`` (single trials). With trials in
``validation_tier`` (default ``validation``) the three tiers stay apart: validation rows are that
tier's single trials, and the ``test_tier`` (default ``test``) trials become ``test_x``/``test_y``
with ``test_image_ids`` (:func:`raw_test_repeats` groups them into raw repeats for noise ceilings).
Without validation trials (or with ``validation_tier: test``) it is as before tiers were kept
apart: validation rows are the distinct images of the test tier, their trials grouped by
``frame_image_id`` into ``raw_validation`` (repeats, images, neurons), keeping the first R trials
of each image where R is the smallest repeat count, and ``val_y`` is their mean. Behaviour and
pupil centre, when present, fill ``{train,val,test}_behavior`` / ``_pupil`` (averaged over the
kept repeats for averaged validation rows).
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
    # What a folder may offer; load() narrows it to what this folder has (an instance attribute).
    CAPABILITIES = Capabilities(tiers=True, behavior=True)
    PARAMS = {
        "path": Param(str, help="folder holding data/ and meta/"),
        "train_tiers": Param(list, ["train"], "tiers used as single-trial training data",
                             check=lambda v: None if v and set(v) <= set(TIERS) else f"tiers are {TIERS}"),
        "validation_tier": Param(str, "validation", "tier of the validation set (early stopping watches it); "
                                 "when it has no trials or equals test_tier: the test tier's repeated images, "
                                 "trial-averaged, and no separate test tier", choices=TIERS),
        "test_tier": Param(str, "test", "tier kept apart and scored once at the end (repeated images)",
                           choices=TIERS),
        "crop": Param(list, [0, 0, 0, 0], "pixels cut from the top, bottom, left, right", check=_check_crop),
        "downsample": Param(int, 1, "average blocks of this many pixels per side", minimum=1),
        "neurons": Param(list, [], "unit_ids to keep (empty: all)"),
    }

    def root(self) -> Path:
        return self.resolve(self.params["path"])

    def check(self) -> None:
        root = self.root()
        if not root.is_dir():
            raise DatasetError(f"{root}: no such folder (the synthetic static dataset is made with "
                               f"`neuro data synth --kind static --out {root}`)")
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

    def _side(self, root: Path, folder: str, rows: np.ndarray) -> np.ndarray | None:
        """Per-trial behaviour or pupil centre, (rows, k); None when the folder is absent."""
        if not (root / "data" / folder).is_dir():
            return None
        return _stack([root / "data" / folder / f"{r}.npy" for r in rows], lambda p: load_array(p, 1))

    def tier_rows(self, tiers: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Training, validation and test trial indices. Without trials in the validation tier (or
        with ``validation_tier`` equal to ``test_tier``) there is no test tier: validation is the
        test tier's repeated images, as before tiers were kept apart."""
        train = np.flatnonzero(np.isin(tiers, self.params.get("train_tiers", ["train"])))
        val_tier, test_tier = self.params.get("validation_tier", "validation"), self.params.get("test_tier", "test")
        val = np.flatnonzero(tiers == val_tier)
        if val_tier == test_tier or not len(val):
            return train, np.flatnonzero(tiers == test_tier), None
        test = np.flatnonzero(tiers == test_tier)
        return train, val, test if len(test) else None

    def load(self) -> Dataset:
        self.check()
        root = self.root()
        tiers = _load_meta(root / "meta/trials/tiers.npy").astype(str)
        image_ids = _load_meta(root / "meta/trials/frame_image_id.npy")
        if len(tiers) != len(image_ids):
            raise DatasetError(f"{root / 'meta/trials/frame_image_id.npy'}: {len(image_ids)} entries but "
                               f"tiers.npy has {len(tiers)}")
        train_rows, val_rows, test_rows = self.tier_rows(tiers)
        if not len(train_rows) or not len(val_rows):
            raise DatasetError(f"{root / 'meta/trials/tiers.npy'}: no trials in the training or validation tiers")
        parts = [train_rows, val_rows] + ([test_rows] if test_rows is not None else [])
        rows = np.concatenate(parts)
        images = _stack([root / "data/images" / f"{r}.npy" for r in rows], _image)
        responses = _stack([root / "data/responses" / f"{r}.npy" for r in rows], lambda p: load_array(p, 1))
        images = transform_images(images, list(self.params.get("crop", [0, 0, 0, 0])),
                                  int(self.params.get("downsample", 1)))
        columns, unit_ids = self._neuron_columns(root, responses.shape[1])
        responses = responses[:, columns]
        dims = tuple(int(d) for d in images.shape[1:])
        flat = images.reshape(len(rows), -1)
        side = {kind: self._side(root, folder, rows) for kind, folder in (("behavior", "behavior"),
                                                                          ("pupil", "pupil_center"))}
        bounds = np.cumsum([0] + [len(p) for p in parts])
        split = lambda array, i: None if array is None else array[bounds[i]:bounds[i + 1]]  # noqa: E731
        meta = {"source": str(root), "unit_ids": unit_ids}
        if test_rows is None:
            data = self._repeat_validation(split(flat, 0), split(responses, 0), split(flat, 1), split(responses, 1),
                                           image_ids[val_rows], dims, meta, side, split)
        else:
            meta["tiers"] = {"train": len(train_rows), "validation": len(val_rows), "test": len(test_rows)}
            data = Dataset(split(flat, 0), split(responses, 0), split(flat, 1), split(responses, 1), dims,
                           None, None, None, [("static", len(columns))], meta,
                           test_x=split(flat, 2), test_y=split(responses, 2),
                           test_image_ids=image_ids[test_rows].copy(),
                           train_behavior=split(side["behavior"], 0), val_behavior=split(side["behavior"], 1),
                           test_behavior=split(side["behavior"], 2), train_pupil=split(side["pupil"], 0),
                           val_pupil=split(side["pupil"], 1), test_pupil=split(side["pupil"], 2))
        self.CAPABILITIES = Capabilities(tiers=test_rows is not None,
                                         behavior=side["behavior"] is not None or side["pupil"] is not None)
        return data

    def _repeat_validation(self, train_x, train_y, val_x, val_y, val_ids, dims, meta, side, split) -> Dataset:
        """No test tier: validation rows are the distinct images of the validation trials, their
        trials grouped into ``raw_validation`` (repeats, images, neurons); side variables averaged
        over the kept repeats."""
        groups = repeat_groups(val_ids)
        repeats = min(len(g) for g in groups)
        raw = np.stack([val_y[g[:repeats]] for g in groups], axis=1)
        meta.update(validation_image_ids=list(dict.fromkeys(val_ids.tolist())), repeats=repeats,
                    dropped_repeats=int(sum(len(g) - repeats for g in groups)))
        averaged = {kind: None if side[kind] is None else
                    np.stack([split(side[kind], 1)[g[:repeats]].mean(axis=0) for g in groups]) for kind in side}
        return Dataset(train_x, train_y, val_x[[g[0] for g in groups]], raw.mean(axis=0), dims,
                       raw if repeats >= 2 else None, None, None, [("static", train_y.shape[1])], meta,
                       train_behavior=split(side["behavior"], 0), val_behavior=averaged["behavior"],
                       train_pupil=split(side["pupil"], 0), val_pupil=averaged["pupil"])


def repeat_groups(image_ids: np.ndarray) -> list[np.ndarray]:
    """Row indices of each distinct image, in order of first appearance."""
    unique = list(dict.fromkeys(np.asarray(image_ids).tolist()))
    return [np.flatnonzero(image_ids == u) for u in unique]


def raw_test_repeats(data: Dataset) -> np.ndarray | None:
    """The test tier's single trials as raw repeats (repeats, images, neurons), the first R trials
    of every image where R is the smallest repeat count (None without a test tier or repeats)."""
    if data.test_y is None or data.test_image_ids is None:
        return None
    groups = repeat_groups(data.test_image_ids)
    repeats = min(len(g) for g in groups)
    if repeats < 2:
        return None
    return np.stack([np.asarray(data.test_y)[g[:repeats]] for g in groups], axis=1)
