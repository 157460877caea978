"""Submission is a transaction (docs/backends/lifecycle.md), driven through `neuro run` on the real
Slurm engine: a submission the scheduler refuses leaves the runs as they were, so a plain rerun
picks them up; a folder name with ()[] is encoded in the job script's directives; a profile value
no directive can hold is refused before anything is written. The submitted run's state records
the profile, and `neuro status` asks Slurm with it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from msc_neuro_cli.api import testing
from msc_neuro_cli.api.testing import neuro

pytestmark = pytest.mark.slow


def status(cwd: Path) -> dict[str, dict]:
    return {row["run_id"]: row for row in json.loads(neuro("status", "--json", cwd=cwd, check=True).stdout)}


def write_manifest(tmp_path: Path, folder: str = "testfolder") -> Path:
    data = testing.write_tiny_dataset(tmp_path / "tinydata")
    manifest = testing.TINY_MANIFEST.format(data=data).replace("folder: testfolder", f'folder: "{folder}"')
    (tmp_path / "experiments.yaml").write_text(manifest)
    return tmp_path / "training_data"


def test_refused_sbatch_leaves_runs_as_they_were_and_a_plain_rerun_submits_them(slurm_engine, tmp_path):
    store = write_manifest(tmp_path)
    refused = neuro("run", "tiny", "--run", "0", "--backend", "slurm", "--set", "partition=nosuch", cwd=tmp_path)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "`sbatch` exited" in refused.stderr and "partition" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1                      # one line, no traceback
    row = status(tmp_path)["testfolder/tinyx0"]
    assert (row["state"], row["job_id"]) == ("planned", None), row           # not stranded as queued

    done = neuro("run", "tiny", "--run", "0", "--backend", "slurm-cpu", "--set", "cores=1", "--wait", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    state = json.loads((store / "runs/testfolder/tinyx0/state.json").read_text())
    assert state["state"] == "finished" and state["backend"] == "slurm-cpu" and state["backend_plugin"] == "slurm"
    assert state["profile"]["cores"] == 1 and state["profile"]["memory"] == "8G"   # --set over the profile
    assert (store / "experiments.txt").read_text().split() == ["testfolder/tinyx0/hsm_h0.5"]


def test_folder_names_with_brackets_are_submitted(slurm_engine, tmp_path):
    store = write_manifest(tmp_path, folder="lab(1)")
    done = neuro("run", "tiny", "--run", "0", "--backend", "slurm", "--wait", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert status(tmp_path)["lab(1)/tinyx0"]["state"] == "finished"
    scripts = list((store / "job_scripts").glob("*/tiny/slurm-*.sh"))
    assert len(scripts) == 1 and scripts[0].parent.parent.name.startswith("lab_1_-")
    assert (store / "job_logs/lab(1)/tiny/o_0.log").exists()                  # the store keeps the name


def test_a_value_no_directive_can_hold_is_refused_before_anything_is_written(slurm_engine, tmp_path):
    store = write_manifest(tmp_path)
    refused = neuro("run", "tiny", "--backend", "slurm", "--set", "partition=a b", cwd=tmp_path)
    assert refused.returncode == 2 and "partition (--set)" in refused.stderr, refused.stderr
    assert "cannot go into a job directive" in refused.stderr
    assert not (store / "runs").exists()
