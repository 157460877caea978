"""Refactors must not change what a run is: the planner reproduces the spec hashes recorded before
them, and a run stored before them is still recognised as finished.

tests/data/spec_hashes.json and tests/data/stored_run/ were written once with the code of commit
e0adaf6 (before the training schema, trainer table and worker split): the hashes of every run of
the thesis manifest of that commit (tests/data/spec_hashes_experiments.yaml) and of the tiny test
manifest, and a finished run of the tiny experiment (spec, state, record, repetitions). Do not
regenerate them to make this test pass: a changed hash means stored results stop being found.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
from pathlib import Path

from msc_neuro_cli.plugin_system.manager import registries
from msc_neuro_cli.spec.manifest import load_manifest
from msc_neuro_cli.spec.plan import plan_experiment
from msc_neuro_cli.testing import TINY_MANIFEST, neuro, write_tiny_dataset

DATA = Path(__file__).parent / "data"
STORED_RUN = DATA / "stored_run" / "runs" / "testfolder" / "tinyx0"


def recorded_hash(spec: dict) -> str:
    """The spec hash as commit e0adaf6 computed it (an independent copy of that formula)."""
    hashed = {k: spec[k] for k in ("dataset", "training", "seeds", "name")}
    hashed["model"] = [{"component": c["component"], "params": c["params"]} for c in spec["model"]]
    return hashlib.sha256(json.dumps(hashed, sort_keys=True, default=str).encode()).hexdigest()[:16]


def relocated(spec: dict, base_dir: str) -> dict:
    """``spec`` as if its manifest had been in ``base_dir`` (the hash includes that folder)."""
    out = copy.deepcopy(spec)
    out["dataset"]["base_dir"] = base_dir
    return out


def _manifests(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "thesis").mkdir()
    shutil.copy(DATA / "spec_hashes_experiments.yaml", tmp_path / "thesis" / "experiments.yaml")
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / "experiments.yaml").write_text(TINY_MANIFEST.format(data="tinydata"))
    return {label: tmp_path / label / "experiments.yaml" for label in ("thesis", "tiny")}


def test_planner_reproduces_every_recorded_spec_hash(tmp_path):
    expected = json.loads((DATA / "spec_hashes.json").read_text())
    manifests = {label: load_manifest(path) for label, path in _manifests(tmp_path).items()}
    regs = registries()
    planned = {}
    for label, manifest in manifests.items():
        for key in {row["experiment"] for row in expected if row["manifest"] == label}:
            for plan in plan_experiment(manifest.get(key), regs):
                planned[(label, str(plan.run_id))] = plan
    assert len(planned) == len(expected)
    for row in expected:
        plan = planned[(row["manifest"], row["run_id"])]
        assert plan.name == row["name"]
        assert plan.spec_hash == recorded_hash(plan.spec), row  # the same formula ...
        assert recorded_hash(relocated(plan.spec, row["base_dir"])) == row["spec_hash"], row  # ... and content


def test_run_stored_before_the_refactor_is_still_finished(tmp_path):
    work = tmp_path / "tiny"
    _manifests(tmp_path)
    write_tiny_dataset(work / "tinydata")
    store = work / "store"
    dest = store / "runs" / "testfolder" / "tinyx0"
    shutil.copytree(STORED_RUN, dest)
    spec = json.loads((dest / "spec.json").read_text())
    assert recorded_hash(spec) == spec["spec_hash"]
    # Move the stored run to this test's folder the way a user moves a project: same spec, new place.
    moved = relocated(spec, str(work.resolve()))
    moved["spec_hash"] = recorded_hash(moved)
    (dest / "spec.json").write_text(json.dumps(moved))
    proc = neuro("run", "tiny", "--run", "0", "--store", str(store), cwd=work, check=True)
    assert "nothing to do" in proc.stdout, proc.stdout
    assert json.loads((dest / "state.json").read_text())["state"] == "finished"
    assert not (dest / "checkpoint.npz").exists()
