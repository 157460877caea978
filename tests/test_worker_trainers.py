"""The worker picks the trainer a run needs: streaming for a dataset left on disk, L-BFGS when asked."""

from __future__ import annotations

import json

import numpy as np
import pytest

from msc_neuro_cli.datasets import contract as ds
from msc_neuro_cli.testing import neuro

pytestmark = pytest.mark.slow

MANIFEST = """\
version: 1
experiments:
  h5:
    folder: f
    name: "lnp"
    dataset: {{name: hdf5, path: {path}, in_memory: {in_memory}, preprocess: {{inputs: zscore}}}}
    model:
      - {{component: normal, units: N, activation: softplus}}
    training: {{epochs: 4, summary_every: 2, batch_size: 32{extra}}}
    repetitions: 2
"""


def _packed(path):
    from neuro_datasets import hdf5 as container
    rng = np.random.default_rng(0)
    x = rng.normal(size=(420, 36)).astype(np.float32)
    w = rng.normal(size=(36, 5)).astype(np.float32) * 0.3
    y = rng.poisson(np.log1p(np.exp(x @ w))).astype(np.float32)
    raw = rng.poisson(np.log1p(np.exp(x[400:] @ w)), size=(4, 20, 5)).astype(np.float32)
    data = ds.Dataset(x[:400], y[:400], x[400:], raw.mean(axis=0), (6, 6, 1), raw, None, None,
                      [("region1", 5)], {"source": "test"})
    container.pack(data, path, {"source": "test"})


def _run(tmp_path, in_memory="false", extra=""):
    _packed(tmp_path / "d.h5")
    (tmp_path / "experiments.yaml").write_text(
        MANIFEST.format(path=tmp_path / "d.h5", in_memory=in_memory, extra=extra))
    proc = neuro("run", "h5", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads((tmp_path / "training_data/runs/f/h5x0/record.json").read_text())


def test_a_dataset_left_on_disk_trains_through_the_streaming_trainer(tmp_path):
    record = _run(tmp_path, "false")
    for rep in record["repetitions"]:
        assert rep["trainer"] == "StreamingTrainer" and rep["epochs"] == 4
        assert [p["epoch"] for p in rep["curve"]] == [0, 1, 3]
        assert rep["val_correlation"] > 0.2  # a linear-nonlinear-Poisson population: learnable
    assert record["ceilings"]  # the raw repeats came through the container


def test_lbfgs_runs_through_the_worker(tmp_path):
    record = _run(tmp_path, "true", ", optimizer: lbfgs")
    for rep in record["repetitions"]:
        assert rep["trainer"] == "LbfgsTrainer"
        losses = [p["loss"] for p in rep["curve"]]
        assert losses[-1] < losses[0]
