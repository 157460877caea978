"""One-file HDF5 container for any dataset: ``neuro data pack`` writes it, ``hdf5`` reads it.

Layout (format ``neuro-dataset`` version 1)::

    /train_x /train_y /val_x /val_y        float32, rows = images
    /raw_validation                         (repeats, images, neurons), when the source has repeats
    /train_mask /val_mask                   multi-region block masks, when present
    attrs: format, version, input_dims, regions (JSON), meta (JSON), provenance (JSON),
           sha256 (JSON: SHA-256 of each array's C-order float32 bytes)

Arrays are stored contiguous and uncompressed, so the reader can memory-map them (``mmap: true``,
the default): pages are read from disk as batches touch them and a dataset larger than memory
can be opened. With ``mmap: false`` arrays are read into memory in row chunks.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from msc_neuro_cli.datasets import Dataset, DatasetSource
from msc_neuro_cli.errors import DatasetError
from msc_neuro_cli.params import Param

FORMAT, VERSION = "neuro-dataset", 1
ARRAYS = ("train_x", "train_y", "val_x", "val_y", "raw_validation", "train_mask", "val_mask")
ROW_CHUNK = 4096


def array_sha256(array: np.ndarray, rows: int = ROW_CHUNK) -> str:
    """SHA-256 of the C-order float32 bytes, hashed in row blocks (works on memory maps)."""
    digest = hashlib.sha256()
    for start in range(0, max(len(array), 1), rows):
        digest.update(np.ascontiguousarray(array[start:start + rows], dtype=np.float32).tobytes())
    return digest.hexdigest()


def _json_default(value: Any):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def pack(data: Dataset, out: Path, provenance: dict[str, Any]) -> dict[str, str]:
    """Write ``data`` to ``out`` atomically; returns the per-array SHA-256."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    sums = {}
    try:
        with h5py.File(tmp, "w") as f:
            for name in ARRAYS:
                array = getattr(data, name)
                if array is None:
                    continue
                dset = f.create_dataset(name, shape=array.shape, dtype=np.float32)  # contiguous
                for start in range(0, len(array), ROW_CHUNK):
                    dset[start:start + ROW_CHUNK] = np.asarray(array[start:start + ROW_CHUNK], np.float32)
                sums[name] = array_sha256(array)
            f.attrs["format"], f.attrs["version"] = FORMAT, VERSION
            f.attrs["input_dims"] = np.asarray(data.input_dims, dtype=np.int64)
            f.attrs["regions"] = json.dumps([[n, int(k)] for n, k in data.regions])
            f.attrs["meta"] = json.dumps(data.meta, default=_json_default)
            f.attrs["provenance"] = json.dumps(provenance, default=_json_default)
            f.attrs["sha256"] = json.dumps(sums)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return sums


def _mapped(path: Path, dset: h5py.Dataset) -> np.ndarray | None:
    """A read-only memory map of a contiguous, uncompressed dataset (None if not possible)."""
    if dset.chunks is not None or dset.compression is not None or dset.size == 0:
        return None
    offset = dset.id.get_offset()
    if offset is None:
        return None
    return np.memmap(path, dtype=dset.dtype, mode="r", offset=offset, shape=dset.shape)


def _chunked(dset: h5py.Dataset) -> np.ndarray:
    out = np.empty(dset.shape, dtype=dset.dtype)
    for start in range(0, dset.shape[0], ROW_CHUNK):
        out[start:start + ROW_CHUNK] = dset[start:start + ROW_CHUNK]
    return out


def read(path: Path, mmap: bool = True, verify: bool = False) -> Dataset:
    """Open a container written by :func:`pack`."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: missing file")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise DatasetError(f"{path}: not a readable HDF5 file ({exc})") from None
    with f:
        if f.attrs.get("format") != FORMAT:
            raise DatasetError(f"{path}: not a neuro dataset container (format attribute missing)")
        if int(f.attrs.get("version", 0)) > VERSION:
            raise DatasetError(f"{path}: container version {f.attrs['version']} is newer than this reader")
        arrays = {}
        for name in ARRAYS:
            if name in f:
                dset = f[name]
                arrays[name] = (_mapped(path, dset) if mmap else None)
                if arrays[name] is None:
                    arrays[name] = _chunked(dset)
            elif name in ("train_x", "train_y", "val_x", "val_y"):
                raise DatasetError(f"{path}: array {name!r} missing")
        sums = json.loads(f.attrs.get("sha256", "{}"))
        dims = tuple(int(d) for d in f.attrs["input_dims"])
        regions = [(str(n), int(k)) for n, k in json.loads(f.attrs.get("regions", "[]"))]
        meta = json.loads(f.attrs.get("meta", "{}"))
        meta["provenance"] = json.loads(f.attrs.get("provenance", "{}"))
    if verify:
        for name, array in arrays.items():
            if sums.get(name) != array_sha256(array):
                raise DatasetError(f"{path}: array {name!r} does not match its stored SHA-256")
    return Dataset(arrays["train_x"], arrays["train_y"], arrays["val_x"], arrays["val_y"], dims,
                   arrays.get("raw_validation"), arrays.get("train_mask"), arrays.get("val_mask"), regions, meta)


class Hdf5Dataset(DatasetSource):
    """A dataset packed into one HDF5 file by ``neuro data pack``."""

    description = "one-file HDF5 container written by `neuro data pack` (memory-mapped reads)"
    PARAMS = {
        "path": Param(str, help="the .h5 file"),
        "mmap": Param(bool, True, "memory-map the arrays instead of reading them into memory"),
        "verify": Param(bool, False, "check every array against its stored SHA-256 when loading"),
    }

    def check(self) -> None:
        path = self.resolve(self.params["path"])
        if not path.is_file():
            raise DatasetError(f"{path}: missing file")

    def load(self) -> Dataset:
        return read(self.resolve(self.params["path"]), bool(self.params.get("mmap", True)),
                    bool(self.params.get("verify", False)))
