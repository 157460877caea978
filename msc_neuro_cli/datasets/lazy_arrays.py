"""Arrays that stay on disk: row blocks are read from an HDF5 dataset only when asked for.

A dataset larger than memory is represented by :class:`H5Array` (rows of an h5py dataset) and
:class:`TransformedArray` (the same rows with the thesis pipeline's preprocessing applied as they are read).
Both are "lazy": they have ``shape``, ``dtype``, ``ndim``, ``len``, row indexing (slices, integer
and boolean index arrays) and :meth:`iter_blocks`. Code that needs whole-array results walks them
in row blocks (:func:`iter_rows`, :func:`moments`); ``np.asarray`` still works but reads the whole
array into memory, and the arrays count how often that happens so tests can assert it does not.
"""

from __future__ import annotations

import os
import resource
from typing import Iterator

import numpy as np

BLOCK_BYTES = 16 << 20  # bytes per block for whole-array passes (statistics, checks, checksums)


def is_lazy(array) -> bool:
    """Whether ``array`` is left on disk (a :class:`LazyArray`): read it in row blocks, never whole."""
    return isinstance(array, LazyArray)


def block_rows_for(array, block_bytes: int = BLOCK_BYTES) -> int:
    """Rows per block so that one block of ``array`` takes about ``block_bytes``."""
    row_bytes = int(np.prod(array.shape[1:], dtype=np.int64)) * np.dtype(array.dtype).itemsize
    return max(1, block_bytes // max(1, row_bytes))


def iter_rows(array, rows: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, block) over a numpy or lazy array, in order; blocks are numpy arrays."""
    if is_lazy(array):
        yield from array.iter_blocks(rows)
        return
    rows = rows or block_rows_for(array)
    for start in range(0, len(array), rows):
        yield start, np.asarray(array[start:start + rows])


class LazyArray:
    """Common part: shape/dtype bookkeeping, index normalisation, block iteration, counters."""

    shape: tuple[int, ...]
    dtype: np.dtype

    def __init__(self):
        self.reads = 0           # read calls that reached the file
        self.max_rows_read = 0   # largest number of rows one read returned
        self.materialised = 0    # whole-array reads through np.asarray

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def describe(self) -> str:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()} shape={self.shape} dtype={self.dtype}>"

    def _rows(self, key) -> np.ndarray:
        """Rows selected by a row key: a slice or an integer/boolean index array."""
        raise NotImplementedError

    def __getitem__(self, key):
        rest = ()
        if isinstance(key, tuple):
            key, rest = key[0], key[1:]
        if isinstance(key, (int, np.integer)):
            index = int(key) + (len(self) if key < 0 else 0)
            if not 0 <= index < len(self):
                raise IndexError(f"row {key} out of range for {len(self)} rows")
            out = self._rows(slice(index, index + 1))[0]
            return out[rest] if rest else out
        if key is Ellipsis:
            key = slice(None)
        if not isinstance(key, slice):
            key = np.asarray(key)
            if key.dtype == bool:
                if key.shape != (len(self),):
                    raise IndexError(f"boolean index of shape {key.shape} for {len(self)} rows")
                key = np.flatnonzero(key)
            elif not np.issubdtype(key.dtype, np.integer):
                raise IndexError(f"rows must be selected by a slice or integers, got {key.dtype}")
            key = np.where(key < 0, key + len(self), key)
            if key.size and (key.min() < 0 or key.max() >= len(self)):
                raise IndexError(f"row index out of range for {len(self)} rows")
        out = self._rows(key)
        return out[(slice(None), *rest)] if rest else out

    def iter_blocks(self, rows: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, block of ``rows`` rows) in order; about BLOCK_BYTES per block by default."""
        rows = rows or block_rows_for(self)
        for start in range(0, len(self), rows):
            yield start, self._rows(slice(start, min(start + rows, len(self))))

    def __array__(self, dtype=None, copy=None):
        self.materialised += 1
        out = np.empty(self.shape, self.dtype)
        for start, block in self.iter_blocks():
            out[start:start + len(block)] = block
        return out if dtype is None else out.astype(dtype, copy=False)


class H5Array(LazyArray):
    """Rows of an h5py dataset, read on demand. Holds the dataset (and so its file) open."""

    SPARSE = 8  # an index set covering < 1/SPARSE of its span is read row-selection-wise

    def __init__(self, dset, path: str, name: str):
        super().__init__()
        self.dset, self.path, self.name = dset, str(path), name
        self.shape, self.dtype = tuple(dset.shape), np.dtype(dset.dtype)

    def describe(self) -> str:
        return f"{self.path} array {self.name!r}"

    def _read(self, selection) -> np.ndarray:
        out = self.dset[selection]
        self.reads += 1
        self.max_rows_read = max(self.max_rows_read, len(out))
        return out

    def _rows(self, key) -> np.ndarray:
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            if step < 0:  # h5py reads forward only
                return self._rows(np.arange(start, stop, step))
            if start >= stop:
                return np.empty((0, *self.shape[1:]), self.dtype)
            return self._read(np.s_[start:stop:step])
        if key.size == 0:
            return np.empty((0, *self.shape[1:]), self.dtype)
        unique, inverse = np.unique(key, return_inverse=True)  # h5py needs increasing, unique
        lo, hi = int(unique[0]), int(unique[-1]) + 1
        if len(unique) * self.SPARSE < hi - lo:
            picked = np.concatenate([self._read(unique[i:i + 4096]) for i in range(0, len(unique), 4096)])
        else:  # dense: read the span in blocks and keep the wanted rows
            rows = block_rows_for(self)
            parts = []
            for start in range(lo, hi, rows):
                wanted = unique[(unique >= start) & (unique < start + rows)]
                if wanted.size:
                    stop = int(wanted[-1]) + 1
                    parts.append(self._read(np.s_[int(wanted[0]):stop])[wanted - int(wanted[0])])
            picked = np.concatenate(parts)
        return picked[inverse.reshape(-1)]


class TransformedArray(LazyArray):
    """``base`` with ``((rows - sub) * mul) / div`` applied as rows are read, cast to float32.

    The operations and their order are those of the in-memory preprocessing (``datasets/contract.py``), in
    float32 arithmetic, so a transformed block equals the same rows transformed in memory.
    ``div`` may be a scalar or one value per column.
    """

    def __init__(self, base: LazyArray, sub=None, mul=None, div=None):
        super().__init__()
        self.base, self.sub, self.mul, self.div = base, sub, mul, div
        self.shape, self.dtype = base.shape, np.dtype(np.float32)

    def describe(self) -> str:
        return self.base.describe()

    def apply(self, block: np.ndarray) -> np.ndarray:
        """Transform a freshly read block in place (every ``_rows`` returns a new array)."""
        if not np.issubdtype(block.dtype, np.floating):
            block = block.astype(np.float64)
        if self.sub is not None:
            block -= self.sub
        if self.mul is not None:
            block *= self.mul
        if self.div is not None:
            block /= self.div
        return block.astype(np.float32, copy=False)

    def _rows(self, key) -> np.ndarray:
        return self.apply(self.base._rows(key))

    @property
    def reads(self) -> int:  # the file reads happen in the base
        return self.base.reads

    @reads.setter
    def reads(self, value) -> None:
        pass

    @property
    def max_rows_read(self) -> int:
        return self.base.max_rows_read

    @max_rows_read.setter
    def max_rows_read(self, value) -> None:
        pass


def source_of(array) -> str:
    """Where a lazy array's rows come from ('' for in-memory arrays)."""
    return array.describe() if is_lazy(array) else ""


# ---------------------------------------------------------------------- blockwise statistics
def moments(array, axis: int | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """(mean, variance, count) in float64 over all values (axis None) or per column (axis 0).

    Blocks are merged with Chan et al.'s pairwise update, which stays accurate where the sums of
    x and x^2 would cancel (a large mean and a small spread).
    """
    count, mean, m2 = 0, 0.0, 0.0
    for _, block in iter_rows(array):
        block = np.array(block, np.float64)  # one float64 copy, then worked on in place
        if axis is None:
            block = block.reshape(-1, 1)
        n_b = block.shape[0]
        if n_b == 0:
            continue
        mean_b = block.mean(axis=0)
        block -= mean_b
        block *= block
        m2_b = block.sum(axis=0)
        total = count + n_b
        delta = mean_b - mean
        mean = mean + delta * (n_b / total)
        m2 = m2 + m2_b + delta ** 2 * (count * n_b / total)
        count = total
    with np.errstate(invalid="ignore", divide="ignore"):
        var = np.asarray(m2, np.float64) / count if count else np.full(np.shape(mean), np.nan)
    mean = np.asarray(mean, np.float64)
    if axis is None:
        return mean.reshape(()), var.reshape(()), count
    return mean, var, count


def first_nonfinite(array) -> int | None:
    """Index of the first row holding NaN or inf (None if every value is finite)."""
    for start, block in iter_rows(array):
        bad = ~np.isfinite(block).reshape(len(block), -1).all(axis=1)
        if bad.any():
            return start + int(np.argmax(bad))
    return None


def finite_range(array) -> tuple[float, float, float]:
    """(min, max, mean) over the finite values, blockwise (NaN, NaN, NaN if there are none)."""
    lo, hi, total, count = np.inf, -np.inf, 0.0, 0
    for _, block in iter_rows(array):
        values = np.asarray(block, np.float64).reshape(-1)
        values = values[np.isfinite(values)]
        if values.size:
            lo, hi = min(lo, values.min()), max(hi, values.max())
            total, count = total + values.sum(), count + values.size
    return (float(lo), float(hi), total / count) if count else (np.nan, np.nan, np.nan)


# ---------------------------------------------------------------------- memory budget
def memory_budget() -> int:
    """Bytes this process can still allocate: the least of MemAvailable, the cgroup's remaining
    limit (containers) and the data/address-space rlimits (2 GiB if none is known).

    Unlike ``engine.placement.available_memory`` it needs no TensorFlow and sees container limits.
    """
    limits = []
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    limits.append(int(line.split()[1]) * 1024)
    except OSError:
        pass
    try:
        with open("/sys/fs/cgroup/memory.max") as fh:
            cap = fh.read().strip()
        if cap.isdigit():
            with open("/sys/fs/cgroup/memory.current") as fh:
                limits.append(int(cap) - int(fh.read().strip()))
    except OSError:
        pass
    status = _proc_status_bytes()
    for which, field in ((resource.RLIMIT_DATA, "VmData"), (resource.RLIMIT_AS, "VmSize")):
        soft = resource.getrlimit(which)[0]
        if soft != resource.RLIM_INFINITY:
            limits.append(soft - status.get(field, 0))
    return max(0, min(limits)) if limits else 2 << 30


def _proc_status_bytes() -> dict[str, int]:
    out = {}
    try:
        with open(f"/proc/{os.getpid()}/status") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                parts = value.split()
                if len(parts) == 2 and parts[1] == "kB":
                    out[key] = int(parts[0]) * 1024
    except OSError:
        pass
    return out
