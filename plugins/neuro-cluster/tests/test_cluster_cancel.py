"""`neuro cancel` end to end on the real engines (.ci/engines/up.sh): a Grid Engine sweep that can
never start (it asks for a GPU the engine has none of) and a running Slurm job are cancelled
through the CLI, leave their engine, show as "cancelled" and are resubmitted by --retry-failed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from msc_neuro_cli.api import testing

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[3]


def neuro(*args, cwd: Path, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "msc_neuro_cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    if check and proc.returncode != 0:
        raise AssertionError(f"neuro {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def status(cwd: Path) -> dict[str, dict]:
    return {row["run_id"]: row for row in json.loads(neuro("status", "--json", cwd=cwd).stdout)}


def wait_for(what: str, check, timeout: float = 120, every: float = 0.5):
    """Call ``check()`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


def write_manifest(tmp_path: Path, profiles: str, epochs: int = 6) -> Path:
    kit = testing
    data = kit.write_tiny_dataset(tmp_path / "tinydata")
    manifest = kit.TINY_MANIFEST.format(data=data).replace("epochs: 6", f"epochs: {epochs}")
    (tmp_path / "experiments.yaml").write_text(manifest + "profiles:\n" + profiles)
    return tmp_path / "training_data"


def sge_jobs() -> set[str]:
    """Job numbers Grid Engine lists, pending or running, of any user."""
    proc = subprocess.run(["qstat", "-u", "*"], capture_output=True, text=True, check=True, timeout=60)
    return {line.split()[0] for line in proc.stdout.splitlines()[2:] if line.strip()}


def slurm_jobs() -> set[str]:
    """Job ids (array tasks as JOB_TASK) squeue lists, in any state it still shows."""
    proc = subprocess.run(["squeue", "-h", "-a", "-r", "-o", "%i"], capture_output=True, text=True,
                          check=True, timeout=60)
    return set(proc.stdout.split())


def test_sge_queued_sweep_cancelled_then_retried(sge_engine, tmp_path):
    store = write_manifest(tmp_path, "  gpuwait:\n    backend: qsub\n    gpus: 1\n")
    assert "submitted 2 runs to gpuwait" in neuro("run", "tiny", "--backend", "gpuwait", cwd=tmp_path).stdout
    rows = status(tmp_path)
    assert [(r["state"], r["backend"]) for r in rows.values()] == [("queued", "gpuwait")] * 2
    job = {row["job_id"].split(".")[0] for row in rows.values()}
    assert len(job) == 1 and job <= sge_jobs()                  # one array, waiting for a GPU
    job = job.pop()
    time.sleep(2)                                               # several scheduler intervals: still waiting
    assert {r["state"] for r in status(tmp_path).values()} == {"queued"}

    out = neuro("cancel", "tiny", cwd=tmp_path).stdout
    assert "cancelled 2 runs" in out and "testfolder/tinyx0" in out and "testfolder/tinyx1" in out
    wait_for(f"qstat to forget job {job}", lambda: job not in sge_jobs(), timeout=30)
    rows = status(tmp_path)
    assert [r["state"] for r in rows.values()] == ["cancelled"] * 2, rows
    assert "neuro cancel" in rows["testfolder/tinyx0"]["error"]
    assert "cancelled 0 runs" in neuro("cancel", "tiny", cwd=tmp_path).stdout   # nothing left to cancel
    assert not (store / "experiments.txt").exists()

    neuro("run", "tiny", "--backend", "qsub", "--retry-failed", "--wait", cwd=tmp_path)
    rows = status(tmp_path)
    assert [(r["state"], r["backend"], r["reps_done"]) for r in rows.values()] == [("finished", "qsub", 2)] * 2
    assert all(r["job_id"].split(".")[0] != job for r in rows.values())
    assert sorted((store / "experiments.txt").read_text().split()) == [
        "testfolder/tinyx0/hsm_h0.5", "testfolder/tinyx1/hsm_h1.0"]


def test_slurm_running_job_cancelled_then_resubmitted(slurm_engine, tmp_path):
    store = write_manifest(tmp_path, "  long:\n    backend: slurm\n  held:\n    backend: slurm\n"
                                     "    extra: [--hold]\n", epochs=100000)
    state_file = store / "runs/testfolder/tinyx0/state.json"

    def training():   # the worker has trained at least one summary interval
        state = json.loads(state_file.read_text()) if state_file.exists() else {}
        return state.get("state") == "running" and state.get("epoch", 0) >= 3 and state

    def cancel(job: str) -> None:
        assert neuro("cancel", "tiny", cwd=tmp_path).stdout.strip() == "cancelled 1 runs: testfolder/tinyx0"
        wait_for(f"squeue to drop job {job}", lambda: job not in slurm_jobs(), timeout=60)
        time.sleep(1)   # a worker that outlived its job step would write now
        row = status(tmp_path)["testfolder/tinyx0"]
        assert (row["state"], row["job_id"]) == ("cancelled", job), row

    neuro("run", "tiny", "--backend", "long", "--run", "0", cwd=tmp_path)
    wait_for("the worker to train", training, timeout=180)
    rows = status(tmp_path)
    assert list(rows) == ["testfolder/tinyx0"]                  # run 1 was never planned into the store
    first = rows["testfolder/tinyx0"]
    assert (first["state"], first["backend"]) == ("running", "long") and first["job_id"] in slurm_jobs()
    cancel(first["job_id"])

    # --retry-failed resubmits the cancelled run (held here, so it stays queued), then cancelled again
    assert "submitted 1 runs" in neuro("run", "tiny", "--backend", "held", "--retry-failed", cwd=tmp_path).stdout
    second = status(tmp_path)["testfolder/tinyx0"]
    assert (second["state"], second["backend"]) == ("queued", "held") and second["job_id"] != first["job_id"]
    assert second["job_id"] in slurm_jobs()
    cancel(second["job_id"])
    assert not (store / "experiments.txt").exists()
