"""`neuro run --backend qsub|slurm` end to end on the real engines: a tiny experiment submitted as
one array, held (queued), failed (its dataset vanished before the jobs ran), then finished with
--retry-failed, with the same store layout, records and ledger lines as any run."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from msc_neuro_cli.api import testing

from cluster_engine_access import require_engine

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[3]
RELEASE = {"qsub": ["qrls"], "slurm": ["scontrol", "release"]}
HOLD = {"qsub": ["-h"], "slurm": ["--hold"]}
ENGINE = {"qsub": "sge", "slurm": "slurm"}


def neuro(*args, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    from msc_neuro_cli.api.testing import neuro as run_cli
    return run_cli(*args, cwd=cwd, check=check)


def status(cwd: Path) -> dict[str, dict]:
    return {row["run_id"]: row for row in json.loads(neuro("status", "--json", cwd=cwd).stdout)}


@pytest.mark.parametrize("backend", ["qsub", "slurm"])
def test_sweep_fails_then_finishes_with_retry(backend, tmp_path, monkeypatch):
    require_engine(ENGINE[backend], monkeypatch)
    kit = testing
    data = kit.write_tiny_dataset(tmp_path / "tinydata")
    manifest = kit.TINY_MANIFEST.format(data=data) + (
        f"profiles:\n  held:\n    backend: {backend}\n    extra: {json.dumps(HOLD[backend])}\n")
    (tmp_path / "experiments.yaml").write_text(manifest)

    out = neuro("run", "tiny", "--backend", "held", cwd=tmp_path).stdout
    assert "submitted 2 runs to held" in out
    rows = status(tmp_path)
    assert [rows[r]["state"] for r in sorted(rows)] == ["queued", "queued"]
    jobs = [rows[r]["job_id"] for r in sorted(rows)]
    separator = "." if backend == "qsub" else "_"
    assert len({j.split(separator)[0] for j in jobs}) == 1          # one array submission

    data.rename(tmp_path / "moved")                                 # the workers will not find it
    subprocess.run([*RELEASE[backend], jobs[0].split(separator)[0]], check=True, capture_output=True)
    store = tmp_path / "training_data"
    states = [store / "runs/testfolder" / run / "state.json" for run in ("tinyx0", "tinyx1")]
    deadline = time.monotonic() + 300
    while any(json.loads(p.read_text())["state"] in ("queued", "running") for p in states):
        assert time.monotonic() < deadline, [p.read_text() for p in states]
        time.sleep(1)
    rows = status(tmp_path)
    for run, row in rows.items():
        assert row["state"] == "failed", row
        assert "tinydata" in (row["error"] or ""), row
    assert "tinydata" in (store / "job_logs/testfolder/tiny/e_0.log").read_text()
    assert not (store / "experiments.txt").exists() or not (store / "experiments.txt").read_text().strip()

    (tmp_path / "moved").rename(data)
    neuro("run", "tiny", "--backend", backend, "--retry-failed", "--wait", cwd=tmp_path)
    rows = status(tmp_path)
    assert {row["state"] for row in rows.values()} == {"finished"}
    assert sorted((store / "experiments.txt").read_text().split()) == [
        "testfolder/tinyx0/hsm_h0.5", "testfolder/tinyx1/hsm_h1.0"]
    for run in ("tinyx0", "tinyx1"):
        record = json.loads((store / "runs/testfolder" / run / "record.json").read_text())
        assert record["run_id"] == f"testfolder/{run}" and len(record["repetitions"]) == 2
        assert record["val_correlation"]["n"] == 2
        assert len(list((store / "models/testfolder" / run).glob("*.keras"))) == 2
        assert list((store / "logs/testfolder" / run).glob("*__0/summaries/test/events.*"))
