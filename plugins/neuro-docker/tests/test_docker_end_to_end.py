"""`neuro run --backend docker` end to end with the CPU image (`make docker`): a tiny experiment
killed by a too-small memory limit (failed, out of memory), then finished with --retry-failed,
owned by the store's (non-root) owner, with the same records and ledger lines as any run."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from msc_neuro_cli.api import atomic_write_json, testing

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[3]
UID = 1000 if os.geteuid() == 0 else os.geteuid()


def neuro(*args, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    from msc_neuro_cli.api.testing import neuro as run_cli
    return run_cli(*args, cwd=cwd, check=check)


def test_store_files_are_readable_by_the_container_user(tmp_path):
    """The root CLI writes state the container's user must read: atomic writes are 0644."""
    atomic_write_json(tmp_path / "probe.json", {})
    assert (tmp_path / "probe.json").stat().st_mode & 0o777 == 0o644


def test_sweep_in_containers(docker_client, cpu_image, tmp_path):
    kit = testing
    data = kit.write_tiny_dataset(tmp_path / "tinydata")
    manifest = kit.TINY_MANIFEST.format(data=data) + (
        f"profiles:\n  tight:\n    backend: docker\n    image: {cpu_image}\n    memory: 40M\n"
        f"  roomy:\n    backend: docker\n    image: {cpu_image}\n    cores: 1\n    memory: 2G\n")
    (tmp_path / "experiments.yaml").write_text(manifest)
    store = tmp_path / "training_data"
    store.mkdir()
    if os.geteuid() == 0:
        os.chown(store, UID, UID)

    failed = neuro("run", "tiny", "--backend", "tight", "--wait", cwd=tmp_path, check=False)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    rows = {r["run_id"]: r for r in json.loads(neuro("status", "--json", cwd=tmp_path).stdout)}
    for row in rows.values():
        assert (row["state"], row["exit_code"]) == ("failed", 137), row
        assert "out of memory" in row["error"]
    assert not docker_client.api.containers(all=True, filters={"label": "neuro.store=" + str(store.resolve())})

    neuro("run", "tiny", "--backend", "roomy", "--retry-failed", "--wait", cwd=tmp_path)
    rows = json.loads(neuro("status", "--json", cwd=tmp_path).stdout)
    assert {r["state"] for r in rows} == {"finished"}
    assert sorted((store / "experiments.txt").read_text().split()) == [
        "testfolder/tinyx0/hsm_h0.5", "testfolder/tinyx1/hsm_h1.0"]
    for run in ("tinyx0", "tinyx1"):
        record = json.loads((store / "runs/testfolder" / run / "record.json").read_text())
        assert record["run_id"] == f"testfolder/{run}" and len(record["repetitions"]) == 2
        models = list((store / "models/testfolder" / run).glob("*.keras"))
        assert len(models) == 2 and all(m.stat().st_uid == UID for m in models)
    assert not docker_client.api.containers(all=True, filters={"label": "neuro.store=" + str(store.resolve())})
