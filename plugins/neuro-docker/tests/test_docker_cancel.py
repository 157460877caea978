"""`neuro cancel` of a run training in a container (CPU image, `make docker`): the container goes,
the run shows as "cancelled" and no ledger line is written."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from msc_neuro_cli.api import testing

from msc_neuro_cli.api.testing import wait_for

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[3]
UID = 1000 if os.geteuid() == 0 else os.geteuid()


def neuro(*args, cwd: Path) -> subprocess.CompletedProcess:
    from msc_neuro_cli.api.testing import neuro as run_cli
    return run_cli(*args, cwd=cwd, timeout=300, check=True)


def test_running_container_cancelled(docker_client, cpu_image, tmp_path):
    kit = testing
    data = kit.write_tiny_dataset(tmp_path / "tinydata")
    manifest = kit.TINY_MANIFEST.format(data=data).replace("epochs: 6", "epochs: 100000")
    (tmp_path / "experiments.yaml").write_text(
        manifest + f"profiles:\n  box:\n    backend: docker\n    image: {cpu_image}\n    cores: 1\n    memory: 2G\n")
    store = tmp_path / "training_data"
    store.mkdir()
    if os.geteuid() == 0:
        os.chown(store, UID, UID)
    state_file = store / "runs/testfolder/tinyx0/state.json"
    ours = {"label": "neuro.store=" + str(store.resolve())}

    def status() -> dict:
        return json.loads(neuro("status", "--json", cwd=tmp_path).stdout)[0]

    def training():
        state = json.loads(state_file.read_text()) if state_file.exists() else {}
        return state.get("state") == "running" and state.get("epoch", 0) >= 3

    neuro("run", "tiny", "--backend", "box", "--run", "0", cwd=tmp_path)
    wait_for("the worker to train in its container", training, timeout=180)
    row = status()
    assert (row["run_id"], row["state"], row["backend"]) == ("testfolder/tinyx0", "running", "box")
    running = docker_client.api.containers(filters={**ours, "status": "running"})
    assert [c["Labels"]["neuro.run"] for c in running] == ["testfolder/tinyx0"]

    assert neuro("cancel", "tiny", cwd=tmp_path).stdout.strip() == "cancelled 1 runs: testfolder/tinyx0"
    assert not docker_client.api.containers(all=True, filters=ours)     # stopped and removed
    time.sleep(1)
    row = status()
    assert row["state"] == "cancelled" and "neuro cancel" in row["error"], row
    assert "cancelled 0 runs" in neuro("cancel", "tiny", cwd=tmp_path).stdout
    assert not (store / "experiments.txt").read_text().strip()          # no ledger line
