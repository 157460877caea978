"""One-file HDF5 container for any dataset: ``neuro data pack`` writes it, ``hdf5`` reads it.

Layout (format ``neuro-dataset`` version 1)::

    /train_x /train_y /val_x /val_y        float32, rows = images
    /raw_validation                         (repeats, images, neurons), when the source has repeats
    /train_mask /val_mask                   multi-region block masks, when present
    attrs: format, version, input_dims, regions (JSON), meta (JSON), provenance (JSON),
           sha256 (JSON: SHA-256 of each array's C-order float32 bytes)

Arrays are stored contiguous and uncompressed: a block of rows is one contiguous byte range of
the file (one read, no chunk index), and the in-memory reader can memory-map them.

``in_memory`` decides how the arrays are held. ``true``: in memory (memory-mapped with ``mmap:
true``, else read in row chunks), trained by the in-memory trainer. ``false``: lazy
(:class:`msc_neuro_cli.api.H5Array`): the file stays open read-only while the dataset is
used, row blocks are read as they are needed, and training streams blocks through the device
(:mod:`msc_neuro_cli.engine.streaming`), so a dataset larger than memory trains. ``auto`` (the
default): in memory when the arrays take at most IN_MEMORY_FRACTION of the memory this process
can still allocate (training in memory holds about three copies), else lazy.
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

from msc_neuro_cli.api import Dataset, DatasetError, DatasetSource, H5Array, Param, first_nonfinite, memory_budget

FORMAT, VERSION = "neuro-dataset", 1
ARRAYS = ("train_x", "train_y", "val_x", "val_y", "raw_validation", "train_mask", "val_mask")
ROW_CHUNK = 4096
MAIN = ("train_x", "train_y", "val_x", "val_y")
LAZY_ARRAYS = ("train_x", "train_y", "val_x", "val_y", "train_mask", "val_mask")  # raw repeats: small
IN_MEMORY_FRACTION = 0.25


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


def _open(path: Path) -> h5py.File:
    if not path.is_file():
        raise DatasetError(f"{path}: missing file")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise DatasetError(f"{path}: not a readable HDF5 file ({exc})") from None
    if f.attrs.get("format") != FORMAT:
        f.close()
        raise DatasetError(f"{path}: not a neuro dataset container (format attribute missing)")
    if int(f.attrs.get("version", 0)) > VERSION:
        version = f.attrs["version"]
        f.close()
        raise DatasetError(f"{path}: container version {version} is newer than this reader")
    for name in MAIN:
        if name not in f:
            f.close()
            raise DatasetError(f"{path}: array {name!r} missing")
    return f


def fits_in_memory(f: h5py.File, fraction: float | None = None) -> bool:
    """Whether the container's arrays take at most ``fraction`` (IN_MEMORY_FRACTION) of the memory
    this process can still allocate."""
    fraction = IN_MEMORY_FRACTION if fraction is None else fraction
    size = sum(f[name].size * 4 for name in ARRAYS if name in f)
    return size <= fraction * memory_budget()


def read(path: Path, mmap: bool = True, verify: bool = False, in_memory: bool | str = True) -> Dataset:
    """Open a container written by :func:`pack`; ``in_memory``: True, False (lazy) or "auto"."""
    path = Path(path)
    f = _open(path)
    if in_memory == "auto":
        in_memory = fits_in_memory(f)
    try:
        arrays = {}
        for name in ARRAYS:
            if name not in f:
                continue
            dset = f[name]
            if not in_memory and name in LAZY_ARRAYS:
                arrays[name] = H5Array(dset, path, name)
                continue
            arrays[name] = _mapped(path, dset) if mmap else None
            if arrays[name] is None:
                arrays[name] = _chunked(dset)
            if name in MAIN and (row := first_nonfinite(arrays[name])) is not None:
                raise DatasetError(f"{path}: array {name!r} contains NaN or inf values (first in row {row})")
        sums = json.loads(f.attrs.get("sha256", "{}"))
        dims = tuple(int(d) for d in f.attrs["input_dims"])
        regions = [(str(n), int(k)) for n, k in json.loads(f.attrs.get("regions", "[]"))]
        meta = json.loads(f.attrs.get("meta", "{}"))
        meta["provenance"] = json.loads(f.attrs.get("provenance", "{}"))
        if verify:
            for name, array in arrays.items():
                if sums.get(name) != array_sha256(array):
                    raise DatasetError(f"{path}: array {name!r} does not match its stored SHA-256")
    finally:
        if in_memory:
            f.close()  # lazy arrays keep the file open (read-only) as long as they are referenced
    return Dataset(arrays["train_x"], arrays["train_y"], arrays["val_x"], arrays["val_y"], dims,
                   arrays.get("raw_validation"), arrays.get("train_mask"), arrays.get("val_mask"), regions, meta)


class Hdf5Dataset(DatasetSource):
    """A dataset packed into one HDF5 file by ``neuro data pack``."""

    description = "one-file HDF5 container written by `neuro data pack` (in memory or streamed from disk)"
    PARAMS = {
        "path": Param(str, help="the .h5 file"),
        "in_memory": Param((bool, str), "auto", "hold the arrays in memory (true), read row blocks from the "
                           "file as training needs them (false: data larger than memory), or decide "
                           "by the memory available (auto)",
                           choices=(True, False, "auto", "true", "false")),
        "mmap": Param(bool, True, "in memory: memory-map the arrays instead of reading them"),
        "verify": Param(bool, False, "check every array against its stored SHA-256 when loading"),
    }

    def check(self) -> None:
        path = self.resolve(self.params["path"])
        if not path.is_file():
            raise DatasetError(f"{path}: missing file")

    def load(self) -> Dataset:
        mode = self.params.get("in_memory", "auto")
        in_memory = mode if isinstance(mode, bool) else {"auto": "auto", "true": True, "false": False}[mode]
        return read(self.resolve(self.params["path"]), bool(self.params.get("mmap", True)),
                    bool(self.params.get("verify", False)), in_memory)
