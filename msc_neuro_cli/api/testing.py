"""Test kits for plugin authors: the real CLI, tiny data, installed test plugins (backends,
commands), a dataset contract check, the backend contract (a tiny run submitted, followed and
cancelled through the real CLI), and the component contract (replicas independent, export
round trip, training through the real trainer).

Importing this module loads no TensorFlow; the component kit imports it when first called.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from msc_neuro_cli.datasets.contract import Dataset, DatasetSource, preprocess, validate
from msc_neuro_cli.runs.tracking import notify_trackers
from msc_neuro_cli.testing import TINY_MANIFEST, make_plugin_dist, neuro, wait_for, write_tiny_dataset


def cli_main(args: list[str]) -> None:
    """``neuro ARGS`` in this process (the real app, plugin commands mounted, no second TensorFlow
    import); always ends in ``SystemExit`` carrying the exit code, like the console command."""
    from msc_neuro_cli.cli import main

    main(list(args))


# --- datasets ---------------------------------------------------------------------------------
def check_dataset(source: DatasetSource, options: dict[str, Any] | None = None) -> Dataset:
    """The dataset contract: ``check()`` passes, ``load()`` returns a :class:`Dataset` that
    preprocessing (``options``, e.g. ``{"inputs": "zscore"}``) keeps valid. Returns the result."""
    from msc_neuro_cli.plugin_system.params import resolve_params
    from msc_neuro_cli.datasets.contract import PREPROCESS_PARAMS

    source.check()
    data = source.load()
    assert isinstance(data, Dataset), f"{type(source).__name__}.load() returned {type(data).__name__}"
    validate(data, type(source).__name__)
    full = resolve_params(PREPROCESS_PARAMS, options or {}, lambda key: f"preprocess.{key}")
    done = preprocess(data, full)
    validate(done, f"{type(source).__name__} after preprocessing")
    return done


# --- backends ---------------------------------------------------------------------------------
class _BackendSweep:
    """TINY_MANIFEST in ``directory`` with a profile ``check`` selecting the backend under test,
    and the real CLI on its own store and manifest (whatever NEURO_STORE or NEURO_MANIFEST say)."""

    RUN = "testfolder/tinyx0"  # the one run submitted: one repetition of the first grid point

    def __init__(self, backend: str, directory: Path, profile: dict | None):
        import yaml

        self.directory, self.store = Path(directory), Path(directory) / "training_data"
        self.manifest = self.directory / "experiments.yaml"
        profiles = yaml.safe_dump({"profiles": {"check": {"backend": backend, **(profile or {})}}})
        self.manifest.write_text(TINY_MANIFEST.format(data=write_tiny_dataset(self.directory / "data")) + profiles)
        self.backend = backend

    def argv(self, *args: str) -> list[str]:
        return ["--store", str(self.store), "--manifest", str(self.manifest), *args]

    def run_argv(self, epochs: int) -> list[str]:
        return self.argv("run", "tiny", "--backend", "check", "--run", "0", "-o", "repetitions=1",
                         "-o", f"training.epochs={epochs}")

    def cli(self, *args: str, timeout: float = 600):
        return neuro(*self.argv(*args), cwd=self.directory, timeout=timeout)

    def row(self) -> dict | None:
        proc = self.cli("status", "--json")
        assert proc.returncode == 0, proc.stderr
        return next((row for row in json.loads(proc.stdout) if row["run_id"] == self.RUN), None)

    def engine(self):
        """The run's backend rebuilt from its recorded profile, as ``neuro status`` rebuilds it."""
        from msc_neuro_cli.plugin_system.manager import registries
        from msc_neuro_cli.runs.lifecycle import backend_for
        from msc_neuro_cli.store.run_store import RunId, RunStore

        return backend_for(RunStore(self.store).read_state(RunId.parse(self.RUN)), registries())

    def explain(self, what: str) -> str:
        from msc_neuro_cli.store.run_store import RunId, RunStore

        err = RunStore(self.store).job_logs(RunId.parse(self.RUN))[1]
        log = err.read_text()[-2000:] if err.exists() else "(no worker log)"
        return f"backend {self.backend!r}: {what}; status: {self.row()}; worker log {err}:\n{log}"


def check_backend(backend: str, directory: Path, profile: dict | None = None, timeout: float = 600) -> dict:
    """The backend contract through the real CLI (the backend's plugin installed): ``neuro run
    --wait`` submits one tiny run (one repetition, two epochs) through ``backend`` with ``profile``
    into a store under ``directory`` and follows it with the backend's ``poll``; the run must end
    finished, with the job id ``submit`` returned, its repetition scored and its ledger line.
    Returns the run's ``neuro status --json`` row."""
    sweep = _BackendSweep(backend, directory, profile)
    proc = neuro(*sweep.run_argv(2), "--wait", cwd=sweep.directory, timeout=timeout)
    assert proc.returncode == 0, sweep.explain(f"neuro run exited {proc.returncode}: {proc.stderr[-1500:]}")
    row = sweep.row()
    assert row and row["state"] == "finished" and row["job_id"], sweep.explain("the run did not finish")
    assert row["backend"] == "check" and row["reps_done"] == 1 and -1 <= row["val_correlation"] <= 1, row
    ledger = (sweep.store / "experiments.txt").read_text().split()
    assert any(line.startswith(sweep.RUN + "/") for line in ledger), ledger
    return row


def check_backend_cancel(backend: str, directory: Path, profile: dict | None = None, timeout: float = 300) -> dict:
    """``neuro cancel`` through the backend: one tiny run with many epochs is submitted (``neuro
    run`` in the background, so blocking backends work too); once its worker trains, ``poll``
    must report the job queued or running, and after ``neuro cancel`` no longer alive, and
    ``neuro status`` must show the run cancelled. Returns its status row."""
    from msc_neuro_cli.runs.lifecycle import ACTIVE, TERMINAL

    sweep = _BackendSweep(backend, directory, profile)
    with open(sweep.directory / "neuro-run.log", "ab") as log:
        started = subprocess.Popen([sys.executable, "-m", "msc_neuro_cli", *sweep.run_argv(100_000)],
                                   cwd=sweep.directory, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    try:
        training = lambda: (row := sweep.row()) and row["state"] == "running" and row["epoch"] >= 1 and row  # noqa: E731
        job = wait_for(f"the {backend} worker to train", training, timeout)["job_id"]
        engine = sweep.engine()
        status = engine.poll([job]).get(job)
        assert status is not None and status.state in ACTIVE, sweep.explain(f"poll reports job {job} as {status}")
        proc = sweep.cli("cancel", "tiny")
        assert proc.returncode == 0 and sweep.RUN in proc.stdout, proc.stdout + proc.stderr
        ended = lambda: (status := engine.poll([job]).get(job)) is None or status.state in TERMINAL  # noqa: E731
        wait_for(f"{backend} to end job {job} after neuro cancel", ended, timeout)
        row = sweep.row()
        assert row["state"] == "cancelled", sweep.explain("the run is not cancelled")
        wait_for("the background neuro run to return", lambda: started.poll() is not None, timeout)
        return row
    finally:
        if started.poll() is None:
            started.kill()
            started.wait()


# --- components -------------------------------------------------------------------------------
def build(model: list[dict], input_dims, n_neurons: int, seeds: list[int]) -> list:
    """Assemble and initialise ``model`` (a manifest-style list of component dicts), one replica
    per seed, with the installed plugins' registry, exactly as a run builds it."""
    from msc_neuro_cli.engine.model import ComponentSpec, assemble
    from msc_neuro_cli.plugin_system.manager import registries

    specs = [ComponentSpec(m["component"], {k: v for k, v in m.items() if k != "component"},
                           where=f"test.model[{i}]") for i, m in enumerate(model)]
    layers = assemble(specs, input_dims, n_neurons, len(seeds), registries().components)
    for i, layer in enumerate(layers):  # the trainer's rule: generator [seed, layer index, 0]
        layer.initialise([np.random.default_rng([seed, i, 0]) for seed in seeds])
    return layers


def run(layers, x: np.ndarray, training: bool = False, precision: str = "float32") -> np.ndarray:
    """Every replica's output on the same rows: (R, rows, outputs), in the dtype the forward pass
    computes in (``precision="mixed_bfloat16"``: bfloat16, as a mixed-precision run computes)."""
    import tensorflow as tf

    from msc_neuro_cli.engine.model import forward

    xb = tf.convert_to_tensor(x, tf.float32)
    xb = tf.broadcast_to(xb[None], (layers[0].replicas, *xb.shape))
    return forward(layers, xb, training=training, precision=precision).numpy()


def computes_in_low_precision(layer, precision: str = "mixed_bfloat16") -> bool:
    """Whether ``layer``'s forward pass runs in ``precision``'s low dtype (traced once, never run);
    a layer that cannot computes in float32 inside a mixed-precision model."""
    from msc_neuro_cli.engine import precision as precision_ops

    return precision_ops.supports(layer, precision_ops.compute_dtype(precision))


def assert_replicas_independent(model, input_dims, n_neurons, x, seeds=(3, 5, 7), training=False,
                                rtol=1e-5, atol=1e-6) -> None:
    """Replica r of an R-replica model computes what a one-replica model with r's seed computes."""
    together = run(build(model, input_dims, n_neurons, list(seeds)), x, training)
    for r, seed in enumerate(seeds):
        alone = run(build(model, input_dims, n_neurons, [seed]), x, training)[0]
        np.testing.assert_allclose(together[r], alone, rtol=rtol, atol=atol,
                                   err_msg=f"replica {r} (seed {seed}) differs from a one-replica model")


def assert_export_roundtrip(layers, x, directory: Path, replica: int = 1) -> np.ndarray:
    """Export replica ``replica``, save, reload with Keras and compare predictions; returns them."""
    import keras

    from msc_neuro_cli.engine.model import export_replica

    path = Path(directory) / f"replica{replica}.keras"
    export_replica(layers, replica).save(path)
    reloaded = keras.models.load_model(path)
    expected = run(layers, x)[replica]
    got = reloaded.predict(np.asarray(x, np.float32), verbose=0)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    return got


def synthetic_data(input_dims, n_neurons: int, rows: int = 40, val_rows: int = 12, seed: int = 0):
    """Images and Poisson responses of a random rectified-linear population (train, val)."""
    rng = np.random.default_rng(seed)
    features = math.prod(input_dims)
    x = rng.normal(size=(rows + val_rows, features)).astype(np.float32)
    w = rng.normal(size=(features, n_neurons)) / np.sqrt(features)
    y = rng.poisson(np.log1p(np.exp(x @ w))).astype(np.float32)
    return (x[:rows], y[:rows]), (x[rows:], y[rows:])


def make_trainer(layers, train: tuple, val: tuple, seeds, loss: str = "poisson", **settings):
    """The replicated trainer a run uses, over ``layers`` (from :func:`build`) and ``train`` /
    ``val`` = (images, responses), initialised; ``settings`` are training settings (epochs,
    batch_size, xla, ...). Defaults favour speed: 1 epoch, no XLA, one replica group."""
    from msc_neuro_cli.engine.trainer import ReplicatedTrainer, TrainingConfig
    from msc_neuro_cli.plugin_system.manager import registries

    settings = {"epochs": 1, "summary_every": 1, "loss": loss, "xla": False, **settings}
    if "replica_groups" in TrainingConfig.__dataclass_fields__:  # one group: no per-core clones
        settings.setdefault("replica_groups", 1)
    trainer = ReplicatedTrainer(layers, registries().components.losses.get(loss), TrainingConfig(**settings),
                                list(seeds), *train, *val)
    trainer.initialise()
    return trainer


def smoke_train(model, input_dims, n_neurons: int, seeds=(0, 1), epochs: int = 2, loss: str = "poisson",
                **config) -> tuple[Any, list]:
    """Train ``model`` for ``epochs`` through the replicated trainer on synthetic data; returns
    (trainer, summaries). Pass ``xla=True`` etc. (any training setting) to test those paths."""
    train, val = synthetic_data(input_dims, n_neurons)
    layers = build(model, input_dims, n_neurons, list(seeds))
    trainer = make_trainer(layers, train, val, seeds, loss, epochs=epochs, **{"batch_size": 8, **config})
    summaries: list = []
    trainer.train(on_summary=summaries.append)
    return trainer, summaries


__all__ = [
    # the CLI, data and installed plugins
    "neuro", "cli_main", "TINY_MANIFEST", "write_tiny_dataset", "make_plugin_dist", "wait_for",
    # trackers
    "notify_trackers",
    # datasets
    "check_dataset",
    # backends
    "check_backend", "check_backend_cancel",
    # components
    "build", "run", "computes_in_low_precision", "assert_replicas_independent", "assert_export_roundtrip", "synthetic_data", "make_trainer", "smoke_train",
]
