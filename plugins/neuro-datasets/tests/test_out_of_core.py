"""Datasets larger than memory: lazy HDF5 arrays, blockwise preprocessing/validation/checksums that
agree with the in-memory ones, and a run that trains on a file larger than the memory it may use."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import textwrap
import time

import h5py
import numpy as np
import pytest

import msc_neuro_cli.api as ds
from msc_neuro_cli.api import DatasetError, H5Array, TransformedArray, finite_range, first_nonfinite, is_lazy, moments
from neuro_datasets import Hdf5Dataset
from neuro_datasets import hdf5 as container

OPTIONS = [{"inputs": i, "scale": 1e3, "stats": s, "outputs": o}
           for i in ("none", "scale", "zscore", "std") for s in ("train", "per_split") for o in ("none", "std")]


def _dataset(rows=300, seed=0, mask=False) -> ds.Dataset:
    rng = np.random.default_rng(seed)
    x = (rng.random((rows + 20, 36)) * 255e-6 + 1e-4).astype(np.float32)  # the thesis pipeline's tiny input values
    y = rng.poisson(2.0, (rows + 20, 5)).astype(np.float32)
    raw = rng.poisson(2.0, (3, 20, 5)).astype(np.float32)
    masks = (np.ones((rows, 5), np.float32), np.ones((20, 5), np.float32)) if mask else (None, None)
    return ds.Dataset(x[:rows], y[:rows], x[rows:], raw.mean(axis=0), (6, 6, 1), raw, *masks,
                      [("region1", 5)], {"source": "test"})


@pytest.fixture
def packed(tmp_path):
    data = _dataset()
    container.pack(data, tmp_path / "d.h5", {"source": "test"})
    return data, tmp_path / "d.h5"


# ---------------------------------------------------------------------- lazy arrays
def test_lazy_rows_equal_numpy_rows(tmp_path):
    a = np.arange(500 * 3, dtype=np.float32).reshape(500, 3)
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f["a"] = a
    lazy = H5Array(h5py.File(tmp_path / "a.h5", "r")["a"], tmp_path / "a.h5", "a")
    assert (lazy.shape, lazy.dtype, lazy.ndim, len(lazy), lazy.nbytes) == (a.shape, a.dtype, 2, 500, a.nbytes)
    rng = np.random.default_rng(0)
    keys = [slice(None), slice(10, 20), slice(-5, None), slice(400, 600), slice(3, 90, 7), slice(50, 10, -3),
            slice(20, 10), 7, -1, np.array([4, 2, 2, 499, -3]), np.sort(rng.choice(500, 40, replace=False)),
            rng.permutation(500)[:300], rng.choice(500, 5), np.array([], np.int64), rng.random(500) > 0.5,
            (slice(0, 8), 1), (np.array([3, 1]), slice(0, 2))]
    for key in keys:
        np.testing.assert_array_equal(lazy[key], a[key], err_msg=str(key))
    blocks = list(lazy.iter_blocks(64))
    assert [start for start, _ in blocks] == list(range(0, 500, 64))
    np.testing.assert_array_equal(np.concatenate([b for _, b in blocks]), a)
    assert lazy.materialised == 0 and lazy.max_rows_read <= 500
    np.testing.assert_array_equal(np.asarray(lazy), a)
    assert lazy.materialised == 1
    for bad in (500, -501, np.array([0, 500]), np.array([0.5])):
        with pytest.raises(IndexError):
            lazy[bad]


def test_transformed_view_equals_the_in_memory_transform(tmp_path):
    a = np.random.default_rng(1).random((50, 4)).astype(np.float32)
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f["a"] = a
    lazy = H5Array(h5py.File(tmp_path / "a.h5", "r")["a"], tmp_path / "a.h5", "a")
    div = np.array([1.0, 2.0, 3.0, 4.0], np.float32)
    view = TransformedArray(lazy, sub=0.25, mul=3.0, div=div)
    np.testing.assert_array_equal(view[5:9], (((a[5:9] - 0.25) * 3.0) / div).astype(np.float32))
    assert view.dtype == np.float32 and view.describe() == f"{tmp_path / 'a.h5'} array 'a'"
    mean, var, count = moments(view)
    ref = np.asarray(view, np.float64)
    assert count == ref.size and np.isclose(mean, ref.mean(), rtol=1e-12) and np.isclose(var, ref.var(), rtol=1e-10)
    mean, var, _ = moments(view, axis=0)
    np.testing.assert_allclose(var, ref.var(axis=0), rtol=1e-10)
    assert finite_range(view) == pytest.approx((ref.min(), ref.max(), ref.mean()))


# ---------------------------------------------------------------------- the container's modes
def test_in_memory_modes(packed, monkeypatch):
    data, path = packed
    lazy = Hdf5Dataset({"path": str(path), "in_memory": False}, path.parent).load()
    assert lazy.is_lazy and all(is_lazy(getattr(lazy, n)) for n in ("train_x", "train_y", "val_x", "val_y"))
    assert isinstance(lazy.raw_validation, np.ndarray)  # the repeats are small: read into memory
    np.testing.assert_array_equal(lazy.train_x[10:20], data.train_x[10:20])
    assert not Hdf5Dataset({"path": str(path), "in_memory": "true"}, path.parent).load().is_lazy
    assert not Hdf5Dataset({"path": str(path)}, path.parent).load().is_lazy  # auto: tiny, fits
    monkeypatch.setattr(container, "IN_MEMORY_FRACTION", 1e-12)
    assert Hdf5Dataset({"path": str(path)}, path.parent).load().is_lazy  # auto: does not fit
    with h5py.File(path) as f:  # contiguous rows: one block of rows is one read of one byte range
        assert f["train_x"].chunks is None


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(str(v) for v in o.values()))
def test_preprocess_lazy_equals_in_memory(packed, options):
    _, path = packed
    memory = ds.preprocess(container.read(path, in_memory=True), options)
    lazy = ds.preprocess(container.read(path, in_memory=False), options)
    assert lazy.is_lazy
    for name in ("train_x", "train_y", "val_x", "val_y"):
        got, want = np.asarray(getattr(lazy, name)), getattr(memory, name)
        assert got.dtype == want.dtype == np.float32
        if options["inputs"] in ("none", "scale") or name.endswith("_y"):
            if options["outputs"] == "none" or name.endswith("_x"):  # no statistics: bit for bit
                np.testing.assert_array_equal(got, want, err_msg=name)
        # Statistics: float64 blocks vs numpy's float32 sums differ in the last bits at most.
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-6, err_msg=name)
    if lazy.raw_validation is not None:
        np.testing.assert_allclose(lazy.raw_validation, memory.raw_validation, rtol=2e-6)
    ds.validate(lazy, "lazy")
    ds.validate(memory, "memory")


def test_checksum_is_the_same_lazy_and_in_memory(packed):
    _, path = packed
    options = {"inputs": "scale", "scale": 7.0, "stats": "train", "outputs": "none"}
    lazy = ds.preprocess(container.read(path, in_memory=False), options)
    memory = ds.preprocess(container.read(path, in_memory=True), options)
    assert lazy.checksum() == memory.checksum()
    assert lazy.train_x.materialised == 0 and lazy.train_x.base.materialised == 0
    other = ds.preprocess(container.read(path, in_memory=False), {**options, "scale": 7.5})
    assert other.checksum() != lazy.checksum()


def test_nan_in_the_file_is_an_error_naming_file_and_array(packed):
    _, path = packed
    with h5py.File(path, "r+") as f:
        f["train_y"][123, 2] = np.nan
    lazy = container.read(path, in_memory=False)  # opening is cheap: checked by validate
    options = {"inputs": "zscore", "scale": 1.0, "stats": "train", "outputs": "none"}
    with pytest.raises(DatasetError) as info:
        ds.validate(ds.preprocess(lazy, options), "dataset 'hdf5'")
    assert str(info.value) == (f"dataset 'hdf5': train_y contains NaN or inf values "
                               f"(first in row 123 of {path} array 'train_y')")
    with pytest.raises(DatasetError, match=rf"{path}: array 'train_y' contains NaN or inf values \(first in row 123\)"):
        container.read(path, in_memory=True)
    assert first_nonfinite(lazy.train_x) is None


def test_pack_from_a_lazy_dataset_round_trips(packed, tmp_path):
    data, path = packed
    lazy = container.read(path, in_memory=False)
    container.pack(lazy, tmp_path / "copy.h5", {"source": "copy"})
    back = container.read(tmp_path / "copy.h5", verify=True)
    for name in ("train_x", "train_y", "val_x", "val_y", "raw_validation"):
        np.testing.assert_array_equal(getattr(back, name), getattr(data, name))
    assert lazy.train_x.materialised == 0


# ---------------------------------------------------------------------- larger than memory
DRIVER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from msc_neuro_cli.tfquiet import import_tensorflow
    import_tensorflow()
    def peak():
        # VmHWM starts afresh at exec; ru_maxrss would keep the forking parent's (pytest's) size.
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    import msc_neuro_cli.api as ds
    from msc_neuro_cli.engine.model import ComponentSpec, assemble
    from msc_neuro_cli.engine.trainer import ReplicatedTrainer, TrainingConfig
    from msc_neuro_cli.engine.streaming import StreamingTrainer
    from msc_neuro_cli.plugin_system.manager import registries
    from neuro_datasets import Hdf5Dataset

    path, in_memory, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    t0 = time.time()
    data = Hdf5Dataset({"path": path, "in_memory": in_memory, "mmap": False}, Path(".")).load()
    data = ds.preprocess(data, {"inputs": "zscore", "scale": 1.0, "stats": "train", "outputs": "none"})
    ds.validate(data, "dataset")
    reg = registries().components
    baseline = peak()  # TensorFlow and the plugins loaded, no data yet
    specs = [ComponentSpec("normal", {"units": 4, "activation": "softplus"}, "t[0]"),
             ComponentSpec("normal", {"units": "N", "activation": "softplus"}, "t[1]")]
    layers = assemble(specs, data.input_dims, data.n_neurons, 2, reg)
    config = TrainingConfig(epochs=epochs, batch_size=256, learning_rate=1e-2, summary_every=1)
    cls = StreamingTrainer if data.is_lazy else ReplicatedTrainer
    trainer = cls(layers, reg.losses.get(config.loss), config, [0, 1], data.train_x, data.train_y,
                  data.val_x, data.val_y)
    trainer.initialise()
    t1 = time.time()
    losses = [trainer._run(epoch, 1).mean() for epoch in range(epochs)]  # (the loop of train())
    t2 = time.time()
    summary = trainer.summary(epochs - 1, losses[-1])
    print(json.dumps({"trainer": cls.__name__, "baseline": baseline, "peak": peak(), "load_s": t1 - t0, "train_s": t2 - t1,
                      "summary_s": time.time() - t2, "rows": len(data.train_x), "loss": [float(v) for v in losses],
                      "train_correlation": float(summary.train_correlation.mean()),
                      "val_correlation": float(summary.val_correlation.mean())}))
""")


def write_large(path, rows: int, side: int = 31, neurons: int = 16) -> int:
    """A learnable dataset of ``rows`` training rows (a linear-nonlinear-Poisson model of noise
    images), written block by block; returns the file's size in bytes."""
    rng = np.random.default_rng(0)
    filters = rng.normal(size=(side * side, neurons)).astype(np.float32) / side

    def draw(n):
        x = rng.standard_normal((n, side * side), dtype=np.float32)
        rates = np.log1p(np.exp(x @ filters))
        return x, rates

    with h5py.File(path, "w") as f:
        dx = f.create_dataset("train_x", (rows, side * side), np.float32)
        dy = f.create_dataset("train_y", (rows, neurons), np.float32)
        for lo in range(0, rows, 8192):
            x, rates = draw(min(8192, rows - lo))
            dx[lo:lo + len(x)], dy[lo:lo + len(x)] = x, rng.poisson(rates)
        x, rates = draw(500)
        f["val_x"], f["val_y"] = x, rates
        f.attrs["format"], f.attrs["version"] = container.FORMAT, container.VERSION
        f.attrs["input_dims"] = np.array([side, side, 1])
    return os.path.getsize(path)


def run_capped(path, in_memory: str, cap: int | None, epochs: int, log) -> tuple[int, str]:
    """Run DRIVER in a child with RLIMIT_DATA = cap; (exit status, output)."""
    def limit():
        if cap is not None:
            resource.setrlimit(resource.RLIMIT_DATA, (cap, cap))

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", NEURO_THREADS="1")
    with open(log, "w+") as out:
        code = subprocess.call([sys.executable, "-c", DRIVER, str(path), in_memory, str(epochs)],
                               stdout=out, stderr=subprocess.STDOUT, env=env, preexec_fn=limit)
        out.seek(0)
        return code, out.read()


@pytest.mark.slow
def test_a_dataset_larger_than_its_memory_limit_trains(tmp_path):
    """Trains on a 1.56 GB file with the data segment limited to 1000 MiB.

    The child runs under ``RLIMIT_DATA`` (Linux >= 4.7 counts malloc'd and private anonymous
    memory, which is what numpy and TensorFlow allocate; TensorFlow starts and trains fine under it,
    its shared libraries and the file's page cache are not counted). Holding the training inputs in
    memory needs more than the limit, and the in-memory path indeed fails; the streaming path trains
    (the loss falls, the correlation rises). Its peak RSS (``VmHWM``, which starts afresh at exec,
    unlike ``ru_maxrss``, which keeps the size of the forking pytest process) stays below
    the file's size, and what it adds to a process that has only loaded TensorFlow and the plugins
    (about 740 MB, mostly shared libraries) is a small fraction of the file.
    """
    path = tmp_path / "big.h5"
    size = write_large(path, rows=400_000)
    cap = 1000 << 20
    assert size > 1.4 * cap
    t0 = time.time()
    code, output = run_capped(path, "false", cap, 2, tmp_path / "stream.log")
    assert code == 0, output[-3000:]
    result = json.loads(output.strip().splitlines()[-1])
    peak = result["peak"]
    assert result["trainer"] == "StreamingTrainer" and result["rows"] == 400_000
    assert result["loss"][1] < result["loss"][0]
    assert result["train_correlation"] > 0.2 and result["val_correlation"] > 0.3  # it learned
    assert peak < 0.8 * size and peak - result["baseline"] < size / 3, \
        f"peak RSS {peak >> 20} MiB (baseline {result['baseline'] >> 20} MiB) for a {size >> 20} MiB file"
    print(f"streaming: peak RSS {peak >> 20} MiB, file {size >> 20} MiB, {time.time() - t0:.1f} s, {result}")
    code, output = run_capped(path, "true", cap, 1, tmp_path / "memory.log")
    assert code != 0 and ("MemoryError" in output or "Unable to allocate" in output), output[-3000:]


def test_memory_budget_sees_a_data_limit():
    """``in_memory: auto`` decides by memory_budget(), which must see rlimits (and cgroups), not
    only the machine's free memory."""
    code = ("import resource; resource.setrlimit(resource.RLIMIT_DATA, (700 << 20, 700 << 20)); "
            "from msc_neuro_cli.datasets.lazy_arrays import memory_budget; print(memory_budget())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert 0 < int(out) < 700 << 20
