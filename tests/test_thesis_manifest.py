"""Every experiment of experiments.yaml plans (--dry-run) and trains for 2 epochs on tiny data."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from msc_neuro_cli.cli import main
from msc_neuro_cli.spec.manifest import load_manifest
from msc_neuro_cli.spec.plan import plan_experiment, plan_search_bounds
from msc_neuro_cli.plugin_system.manager import registries
from msc_neuro_cli.testing import write_tiny_dataset

REPO = Path(__file__).resolve().parents[1]
MANIFEST = REPO / "experiments.yaml"
EXPERIMENTS = sorted(load_manifest(MANIFEST).experiments)

# Counts of runs per experiment as the thesis pipeline's runners launched them (seed-experiments.md §1).
SEED_RUN_COUNTS = {"bs2_exp1": 5, "bs3_exp2": 9, "bs3_exp3": 25, "bs3_exp5": 20, "bs3_exp61": 30,
                   "bs3_exp71": 12, "bs3_exp10": 6, "bs3_exp11": 18, "bl3_exp12": 32, "bs4_exp1": 20,
                   "bs4_exp2": 12, "bs4_exp5": 144, "bs4_exp6": 27, "bs4_exp7": 18, "bs4_exp8": 90,
                   "bs4_exp9": 70, "bs4_exp10": 8, "bs3_exp4": 14, "bs3_exp91": 45}

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_regions(tmp_path_factory):
    """Three tiny regions of 31x31 images (the thesis's image size), different neuron counts."""
    root = tmp_path_factory.mktemp("tiny3")
    for region, neurons in ((1, 5), (2, 3), (3, 4)):
        write_tiny_dataset(root / f"r{region}", size=31, n_train=40, n_val=8, repeats=3, neurons=neurons, seed=region)
        (root / "Data").mkdir(exist_ok=True)
        (root / f"r{region}" / "Data" / "region1").rename(root / "Data" / f"region{region}")
    return root


@pytest.fixture(scope="module")
def tiny_static(tmp_path_factory):
    """A tiny synthetic static dataset (tiers, behaviour, pupil) for the static-data experiments."""
    from neuro_datasets.static_synth import generate_static, write_static
    root = tmp_path_factory.mktemp("static") / "ds"
    write_static(generate_static(seed=0, neurons=6, n_train=40, n_val=8, n_test=4, repeats=3, shape=(24, 32)), root)
    return root


@pytest.fixture(scope="module")
def bl3_model(tmp_path_factory):
    """A saved single-repetition HSM for the generated-data experiments (bl3's ``__14``)."""
    from msc_neuro_cli.engine.model import ComponentSpec, assemble, export_replica
    path = tmp_path_factory.mktemp("bl3") / "baseline3__14.keras"
    specs = [ComponentSpec("diff_of_gaussians", {"units": 2}, "t"),
             ComponentSpec("normal", {"units": "N", "activation": "softplus"}, "t")]
    layers = assemble(specs, (31, 31, 1), 5, 1, registries().components)
    layers[0].initialise([np.random.default_rng(0)])
    layers[1].initialise([np.random.default_rng(1)])
    export_replica(layers, 0).save(path)
    return path


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_dry_run(experiment, tmp_path, capsys, monkeypatch, tiny_regions, bl3_model, tiny_static):
    # point the thesis's ./Data (and the static experiments' data) at tiny stand-in files so the dataset check passes
    manifest = tmp_path / "experiments.yaml"
    manifest.write_text(MANIFEST.read_text().replace("path: Data", f"path: {tiny_regions}")
                        .replace("path: data/synthetic_static", f"path: {tiny_static}"))
    (tmp_path / "data").symlink_to(REPO / "data")
    models = tmp_path / "training_data/models/baseline/bl3"
    models.mkdir(parents=True)
    (models / "baseline3__14.keras").symlink_to(bl3_model)
    monkeypatch.setenv("COLUMNS", "400")
    with pytest.raises(SystemExit) as exit_info:
        main(["run", experiment, "--dry-run", "--manifest", str(manifest), "--store", str(tmp_path / "td")])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    exp = load_manifest(manifest).get(experiment)
    if exp.search is not None:  # a search prints its space and the trials it would run
        assert f"would run {exp.search.trials} more trial(s)" in out
    else:
        assert f"plan: {len(plan_experiment(exp, registries()))} runs" in out
    assert not (tmp_path / "td").exists()


def test_seed_run_counts_and_names():
    manifest = load_manifest(MANIFEST)
    for key, count in SEED_RUN_COUNTS.items():
        assert len(plan_experiment(manifest.get(key), registries())) == count, key
    runs = {p.run_id.run: p for p in plan_experiment(manifest.get("bs4_exp5"), registries())}
    assert sorted(runs)[:1] == [0] and max(runs) == 243 and 100 not in runs
    assert str(manifest.get("exp3").key) == "bs4_exp3"
    names = [p.name for p in plan_experiment(manifest.get("bs3_exp5"), registries())]
    assert "baseline3_l11e-07xN0.2x5000" in names  # the thesis pipeline's own ledger line
    mult = [str(p.run_id) + "/" + p.name for p in plan_experiment(manifest.get("bs3_exp4"), registries())]
    assert "experiments_mult1/bs3_exp4x3/baseline3_[1,2,3]_DoG9xN0.2x5000" in mult


def _first_runs(exp, regs):
    if exp.search is not None:  # a search's trial at the low ends of its space
        return plan_search_bounds(exp, regs)[:1]
    plans = plan_experiment(exp, regs)
    starts = {sub.start for sub in exp.grid}
    return [p for p in plans if p.run_id.run in starts]


@pytest.mark.slow
@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_trains_two_epochs_on_tiny_data(experiment, tmp_path, tiny_regions, tiny_static):
    from msc_neuro_cli.store.run_store import RunStore
    from msc_neuro_cli.runs.worker import run_worker

    regs = registries()
    exp = load_manifest(MANIFEST).get(experiment)
    store = RunStore(tmp_path / "training_data")
    for plan in _first_runs(exp, regs):
        spec = copy.deepcopy(plan.spec)
        if spec["dataset"]["name"] == "static":  # tiers, behaviour and pupil
            spec["dataset"]["params"]["path"] = str(tiny_static)
        else:
            regions = spec["dataset"]["params"].get("regions", [1])
            spec["dataset"].update(name="antolik2016", base_dir=str(tmp_path),
                                   params={"path": str(tiny_regions), "regions": regions})
        spec["training"].update(epochs=2, summary_every=1, xla=False,
                                batch_size=min(spec["training"]["batch_size"], 16))
        spec["seeds"] = [0, 1]
        store.write_spec(plan.run_id, spec)
        assert run_worker(store.root, str(plan.run_id)) == 0
        record = json.loads((store.run_dir(plan.run_id) / "record.json").read_text())
        assert record["val_correlation"]["n"] == 2
        assert np.isfinite(record["val_correlation"]["median"])
        assert len(record["repetitions"][0]["curve"]) == 2
