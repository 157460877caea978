"""Time limits and pre-emption on Slurm: with ``requeue: true`` the job asks for --requeue and a
warning signal before its walltime; the worker checkpoints on that signal, the script requeues the
job, and the requeued job resumes from the checkpoint and finishes the run."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest

from msc_neuro_cli.api import testing
from neuro_cluster.jobspec import JobSpec
from neuro_cluster.slurm import SlurmBackend

from cluster_engine_access import require_engine


def test_requeue_profile_asks_for_requeue_and_a_warning_signal(tmp_path):
    backend = SlurmBackend("slurm", {"requeue": True, "walltime": "0:30:00", "signal_seconds": 90})
    spec = JobSpec(name="n", script=tmp_path / "s.sh", runs_file=tmp_path / "s.runs", sched_log="log",
                   command=["neuro", "worker"], walltime="0:30:00", **backend.requeue_settings())
    script = backend.script(spec)
    assert "#SBATCH --requeue" in script and "#SBATCH --signal=B:USR1@90" in script
    assert 'scontrol requeue "$SLURM_JOB_ID"' in script and "exec neuro worker" not in script
    plain = SlurmBackend("slurm", {}).script(JobSpec(name="n", script=tmp_path / "s.sh", runs_file=tmp_path / "r",
                                                     sched_log="log", command=["neuro", "worker"]))
    assert "--requeue" not in plain and 'exec neuro worker "$RUN"' in plain


@pytest.mark.slow
def test_warned_job_checkpoints_requeues_and_resumes_to_the_end(tmp_path, monkeypatch):
    require_engine("slurm", monkeypatch)
    monkeypatch.setenv("NEURO_CHECKPOINT_SECONDS", "0")     # sbatch passes the environment on
    data = testing.write_tiny_dataset(tmp_path / "tinydata")
    manifest = testing.TINY_MANIFEST.format(data=data).replace(
        "epochs: 6, batch_size: 16, learning_rate: 1.0e-3, summary_every: 3",
        "epochs: 60, batch_size: 16, learning_rate: 1.0e-3, summary_every: 1")
    manifest += "profiles:\n  req:\n    backend: slurm\n    requeue: true\n    walltime: '0:20:00'\n"
    (tmp_path / "experiments.yaml").write_text(manifest)
    testing.neuro("run", "tiny", "--run", "0", "--backend", "req", cwd=tmp_path, check=True)
    state_file = tmp_path / "training_data/runs/testfolder/tinyx0/state.json"

    def state() -> dict:
        return json.loads(state_file.read_text())

    deadline = time.monotonic() + 150
    while not (state()["state"] == "running" and state().get("epoch", 0) >= 3):
        assert time.monotonic() < deadline and state()["state"] in ("queued", "running"), state()
        time.sleep(0.5)
    job = state()["job_id"]
    # what Slurm sends --signal seconds before the walltime, sent now
    subprocess.run(["scancel", "--signal=USR1", "--batch", job], check=True, capture_output=True)
    seen_queued = False
    while state()["state"] != "finished":
        seen_queued = seen_queued or state()["state"] == "queued"
        assert time.monotonic() < deadline + 120 and state()["state"] in ("queued", "running"), state()
        time.sleep(0.5)
    log = (tmp_path / "training_data/job_logs/testfolder/tiny/o_0.log").read_text()
    assert "checkpointed on the engine's warning signal" in log
    assert "resuming repetitions [0, 1] from the checkpoint" in log, log
    assert (tmp_path / "training_data/experiments.txt").read_text().split() == ["testfolder/tinyx0/hsm_h0.5"]
    record = json.loads((tmp_path / "training_data/runs/testfolder/tinyx0/record.json").read_text())
    assert [r["epochs"] for r in record["repetitions"]] == [60, 60]


@pytest.mark.slow
def test_job_reaching_its_time_limit_is_requeued_and_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    """The real time limit, not a signal sent by hand: a 1-minute walltime (Slurm's smallest) with
    the warning 30 s before it. Slurm warns the job, the worker checkpoints, the job requeues
    itself, and the requeued job resumes from that checkpoint's epoch."""
    require_engine("slurm", monkeypatch)
    data = testing.write_tiny_dataset(tmp_path / "tinydata")
    manifest = testing.TINY_MANIFEST.format(data=data).replace(
        "epochs: 6, batch_size: 16, learning_rate: 1.0e-3, summary_every: 3",
        "epochs: 100000, batch_size: 16, learning_rate: 1.0e-3, summary_every: 1")  # outlives any job
    manifest += ("profiles:\n  short:\n    backend: slurm\n    requeue: true\n    walltime: '0:01:00'\n"
                 "    signal_seconds: 30\n")
    (tmp_path / "experiments.yaml").write_text(manifest)
    testing.neuro("run", "tiny", "--run", "0", "--backend", "short", cwd=tmp_path, check=True)
    state_file = tmp_path / "training_data/runs/testfolder/tinyx0/state.json"
    out_log = tmp_path / "training_data/job_logs/testfolder/tiny/o_0.log"
    job = json.loads(state_file.read_text())["job_id"]
    try:
        deadline, states = time.monotonic() + 240, []  # the states seen, for the failure message
        resumed = None
        while resumed is None:
            state = json.loads(state_file.read_text())
            assert state["state"] in ("queued", "running"), state  # never failed, lost or interrupted
            if not states or states[-1] != state["state"]:
                states.append(state["state"])
            log = out_log.read_text() if out_log.exists() else ""
            resumed = re.search(r"resuming repetitions \[0, 1\] from the checkpoint at epoch (\d+)", log)
            assert time.monotonic() < deadline, (states, log[-2000:])
            time.sleep(0.5)
        assert "checkpointed on the engine's warning signal" in log
        assert int(resumed.group(1)) > 0  # the first job's epochs were kept
        err_log = (tmp_path / "training_data/job_logs/testfolder/tiny/e_0.log").read_text()
        assert "requeueing the job" in err_log
        shown = subprocess.run(["scontrol", "show", "job", job], capture_output=True, text=True).stdout
        assert int(re.search(r"Restarts=(\d+)", shown).group(1)) >= 1, shown
        assert re.search(r"TimeLimit=00:01:00", shown), shown
    finally:
        subprocess.run(["scancel", job], capture_output=True)
