"""A trained neuro run logged to a real MLflow tracking server, read back through MLflow's client."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from msc_neuro_cli.api import RunId, RunStore
from msc_neuro_cli.api.testing import TINY_MANIFEST, neuro, notify_trackers, write_tiny_dataset
from neuro_mlflow.tracker import MARKER, run_parameters

pytestmark = pytest.mark.slow
SERVER_START_SECONDS = 180


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``mlflow server`` on a free port (SQLite backend, served artifacts), stopped at the end."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    log = open(root / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
                             "--workers", "1", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
                             "--artifacts-destination", (root / "artifacts").as_uri()],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + SERVER_START_SECONDS
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"mlflow server did not start: {(root / 'server.log').read_text()[-2000:]}")
            time.sleep(1)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server's own session: gunicorn/uvicorn workers too
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="module")
def trained(tmp_path_factory, server):
    """The tiny experiment (one grid point, two repetitions) trained with ``neuro run``."""
    work = tmp_path_factory.mktemp("neuro")
    data = write_tiny_dataset(work / "data")
    (work / "experiments.yaml").write_text(TINY_MANIFEST.format(data=data).replace("[0.5, 1.0]", "[0.5]"))
    neuro("run", "tiny", cwd=work, env={"MLFLOW_TRACKING_URI": server, "NEURO_TRACKERS": "mlflow"}, check=True)
    store = RunStore(work / "training_data")
    (rid,) = store.run_ids()
    return store, rid


def test_run_and_repetitions_read_back_through_mlflow(server, trained, monkeypatch):
    from mlflow import MlflowClient

    store, rid = trained
    record = store.read_record(rid)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    monkeypatch.setenv("NEURO_TRACKERS", "mlflow")
    # Whether or not the worker already told the tracker, the run is in MLflow exactly once.
    assert notify_trackers(store, rid, record) == []
    assert notify_trackers(store, rid, record) == []

    client = MlflowClient(tracking_uri=server)
    experiment = client.get_experiment_by_name("tiny")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert [p.info.run_name for p in parents] == [record["name"]]
    parent = parents[0]
    assert parent.info.status == "FINISHED" and parent.data.tags["neuro.run_id"] == str(rid)
    marker = json.loads((store.run_dir(rid) / MARKER).read_text())
    assert marker["run_id"] == parent.info.run_id

    spec = json.loads((store.run_dir(rid) / "spec.json").read_text())
    params = parent.data.params
    assert params["hidden"] == "0.5"
    assert params["training.epochs"] == str(spec["training"]["epochs"]) == "6"
    assert params["training.learning_rate"] == str(spec["training"]["learning_rate"])
    assert params["model.1.units"] == "0.5N" and params["model.0.component"] == "diff_of_gaussians"
    assert params["repetitions"] == "2" and params == run_parameters(record)

    reps = [json.loads(p.read_text()) for p in sorted((store.run_dir(rid) / "reps").glob("*.json"))]
    assert parent.data.metrics["val_correlation"] == pytest.approx(np.median([r["val_correlation"] for r in reps]))
    assert parent.data.metrics["cc_norm"] == pytest.approx(np.median([r["scores"]["cc_norm"] for r in reps]))
    assert [a.path for a in client.list_artifacts(parent.info.run_id)] == ["record.json"]

    children = sorted((r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id),
                      key=lambda r: int(r.data.tags["neuro.rep"]))
    assert [c.info.run_name for c in children] == [f"{record['name']}__{r['rep']}" for r in reps]
    for child, rep in zip(children, reps):
        assert child.data.params["seed"] == str(rep["seed"])
        history = client.get_metric_history(child.info.run_id, "loss")
        assert [m.step for m in history] == [p["epoch"] for p in rep["curve"]]
        assert [m.value for m in history] == pytest.approx([p["loss"] for p in rep["curve"]])
        val = client.get_metric_history(child.info.run_id, "val_correlation")
        assert [m.step for m in val] == [p["epoch"] for p in rep["curve"]] + [rep["epochs"]]
        assert val[-1].value == pytest.approx(rep["val_correlation"])
        assert child.data.metrics["cc_norm"] == pytest.approx(rep["scores"]["cc_norm"])

        model = client.list_artifacts(child.info.run_id, "model")
        assert [a.path for a in model] == [f"model/{Path(rep['model']).name}"]
        local = client.download_artifacts(child.info.run_id, model[0].path, str(store.root.parent / child.info.run_id))
        assert Path(local).read_bytes() == (store.root / rep["model"]).read_bytes()
        events = client.list_artifacts(child.info.run_id, "tensorboard/summaries/test")
        assert events and all(Path(a.path).name.startswith("events.out.tfevents") for a in events)


def test_sync_to_the_local_store_by_default_with_a_report(tmp_path, trained):
    """``neuro mlflow sync`` logs runs the worker did not; without MLFLOW_TRACKING_URI they go to a
    SQLite store inside the run store. Syncing again logs nothing twice but attaches the report."""
    from mlflow import MlflowClient

    store, rid = trained
    copy = RunStore(tmp_path / "store")
    shutil.copytree(store.root, copy.root)
    (copy.run_dir(rid) / MARKER).unlink()
    report = tmp_path / "report"
    report.mkdir()
    (report / "index.html").write_text("<html>tiny</html>")
    env = {"MLFLOW_TRACKING_URI": ""}
    first = neuro("mlflow", "sync", "tiny", "--store", str(copy.root), cwd=tmp_path, env=env, check=True)
    again = neuro("mlflow", "sync", str(rid), "--store", str(copy.root), "--report", str(report), cwd=tmp_path,
                  env=env, check=True)
    assert first.stdout == again.stdout == f"{rid}\t{json.loads((copy.run_dir(rid) / MARKER).read_text())['run_id']}\n"

    client = MlflowClient(tracking_uri=f"sqlite:///{copy.root / 'mlflow' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tiny")
    assert experiment.artifact_location == (copy.root / "mlflow" / "artifacts").as_uri()
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 3  # the run and its two repetitions, once
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert sorted(a.path for a in client.list_artifacts(parent.info.run_id)) == ["record.json", "report"]
    assert [a.path for a in client.list_artifacts(parent.info.run_id, "report")] == ["report/index.html"]

    unknown = neuro("mlflow", "sync", "nosuch", "--store", str(copy.root), cwd=tmp_path, env=env)
    assert unknown.returncode == 2 and "no finished runs of nosuch" in unknown.stderr
