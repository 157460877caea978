"""Damage named and contained: damaged store files are named in one line, `neuro status` lists a
damaged run as corrupt and the others as usual, a truncated checkpoint no longer blocks a run,
and temporary files of killed writes are removed by the run's next worker."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from msc_neuro_cli.testing import TINY_MANIFEST, neuro, write_tiny_dataset


def _planned_store(tmp_path: Path) -> Path:
    """The tiny experiment's two runs planned in a store (specs written as `neuro run` does)."""
    from msc_neuro_cli.plugin_system.manager import registries
    from msc_neuro_cli.spec.manifest import load_manifest
    from msc_neuro_cli.spec.plan import plan_experiment
    from msc_neuro_cli.store.run_store import RunStore

    data = write_tiny_dataset(tmp_path / "data")
    (tmp_path / "experiments.yaml").write_text(TINY_MANIFEST.format(data=data))
    store = RunStore(tmp_path / "training_data")
    for plan in plan_experiment(load_manifest(tmp_path / "experiments.yaml").get("tiny"), registries()):
        store.write_spec(plan.run_id, plan.spec)
        store.update_state(plan.run_id, state="failed", error="an earlier failure")
    return store.root


def test_status_lists_damaged_runs_as_corrupt_and_the_others_as_usual(tmp_path):
    store = _planned_store(tmp_path)
    runs = store / "runs" / "testfolder"
    (runs / "tinyx0" / "state.json").write_text('{"state": "fini')        # a torn write
    table = neuro("status", cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert "corrupt" in table.stdout and "failed" in table.stdout
    assert "Traceback" not in table.stdout + table.stderr
    rows = {row["run_id"]: row for row in json.loads(neuro("status", "--json", cwd=tmp_path, check=True).stdout)}
    bad, good = rows["testfolder/tinyx0"], rows["testfolder/tinyx1"]
    assert bad["state"] == "corrupt" and f"{runs / 'tinyx0' / 'state.json'}: damaged JSON file" in bad["error"]
    assert good["state"] == "failed" and good["name"] == "hsm_h1.0" and good["error"] == "an earlier failure"

    (runs / "tinyx1" / "spec.json").write_bytes(b"")                      # an empty spec
    rows = {row["run_id"]: row for row in json.loads(neuro("status", "--json", cwd=tmp_path, check=True).stdout)}
    assert rows["testfolder/tinyx1"]["state"] == "corrupt"
    assert str(runs / "tinyx1" / "spec.json") in rows["testfolder/tinyx1"]["error"]


def test_a_damaged_rep_file_is_named_in_one_line(tmp_path):
    store = _planned_store(tmp_path)
    reps = store / "runs" / "testfolder" / "tinyx0" / "reps"
    reps.mkdir()
    (reps / "0.json").write_text("[1, 2]")                                 # JSON, but not a result
    proc = neuro("export-metrics", "tiny", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and str(reps / "0.json") in proc.stderr


def test_truncated_checkpoint_and_leftover_temporaries_do_not_block_the_run(tmp_path):
    store = _planned_store(tmp_path)
    run_dir = store / "runs" / "testfolder" / "tinyx0"
    buffer = io.BytesIO()
    np.savez(buffer, **{"weights.0": np.ones(100)})
    (run_dir / "checkpoint.npz").write_bytes(buffer.getvalue()[:300])     # a write cut short
    leftovers = [run_dir / ".state.json.k2j3.tmp", run_dir / "reps" / ".0.json.x8.tmp",
                 store / "models" / "testfolder" / "tinyx0" / ".hsm_h0.5__0.tmp.keras"]
    for path in leftovers:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half")
    proc = neuro("worker", "testfolder/tinyx0", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    said = [line for line in proc.stderr.splitlines() if "checkpoint" in line]
    assert len(said) == 1 and str(run_dir / "checkpoint.npz") in said[0] and "afresh" in said[0]
    assert json.loads((run_dir / "state.json").read_text())["state"] == "finished"
    assert not any(path.exists() for path in leftovers)
    assert not (run_dir / "checkpoint.npz").exists()


def test_a_sweep_skips_a_run_with_a_damaged_state_and_trains_the_others(tmp_path):
    store = _planned_store(tmp_path)
    damaged = store / "runs" / "testfolder" / "tinyx0" / "state.json"
    damaged.write_text('{"state": "runn')                                   # a torn write
    plan = neuro("run", "tiny", "--dry-run", cwd=tmp_path)
    assert plan.returncode == 0, plan.stderr
    assert "corrupt" in plan.stdout and "failed" in plan.stdout
    proc = neuro("run", "tiny", "-o", "training.epochs=1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    said = [line for line in proc.stderr.splitlines() if "tinyx0" in line]  # (progress bars are on stderr too)
    assert len(said) == 1 and "skipped testfolder/tinyx0" in said[0] and f"{damaged}: damaged JSON file" in said[0]
    assert "Traceback" not in proc.stdout + proc.stderr
    assert json.loads((damaged.parent.parent / "tinyx1" / "state.json").read_text())["state"] == "finished"
    assert damaged.read_text() == '{"state": "runn'                        # left for the user to see
    forced = neuro("run", "tiny", "--run", "0", "--force", "-o", "training.epochs=1", cwd=tmp_path)
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert json.loads(damaged.read_text())["state"] == "finished"


def test_status_of_an_experiment_lists_its_damaged_runs(tmp_path):
    store = _planned_store(tmp_path)
    runs = store / "runs" / "testfolder"
    (runs / "tinyx0" / "state.json").write_text("[]")                       # JSON, not a state
    (runs / "tinyx1" / "spec.json").write_bytes(b"")                        # its experiment: from its sibling
    rows = json.loads(neuro("status", "tiny", "--json", cwd=tmp_path, check=True).stdout)
    assert {row["run_id"]: (row["state"], row["experiment"], row["name"]) for row in rows} == {
        "testfolder/tinyx0": ("corrupt", "tiny", "hsm_h0.5"), "testfolder/tinyx1": ("corrupt", "tiny", "-")}
    (runs / "tinyx0" / "spec.json").write_text('{"experiment": ')           # no readable spec left
    table = neuro("status", "tiny", cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert table.stdout.count("corrupt") == 2  # two rows, then a line naming each damaged file
    assert str(runs / "tinyx0" / "state.json") in table.stdout and str(runs / "tinyx1" / "spec.json") in table.stdout
    other = neuro("status", "other", cwd=tmp_path)
    assert other.returncode == 2 and "no runs of experiment 'other'" in other.stderr
