"""Side by side: neuro's ``lurz2021`` and the field's reference implementation on one static dataset.

    .venv/bin/python bench/bench_field.py [--epochs N] [--size full|small] [--data DIR] [--skip-reference]

A benchmark, not a test. It

1. makes ``bench/.venv-field`` (git-ignored) with ``python3.11 -m venv`` and installs
   ``neuralpredictors==0.3.0`` and torch from the package registry (no torchvision: the runner
   stubs it), unless it is there already;
2. generates the synthetic static dataset (``neuro data synth --kind static``; ``--size small`` is a
   scaled-down one for a quick check) or reuses it when its parameters match;
3. trains the reference standard model (``bench/field_reference_runner.py`` in that venv, 2 torch
   threads, channels-last) and then neuro's ``lurz2021`` experiment (one repetition, the same data,
   epochs cap and early stopping), back to back;
4. prints both test-tier scores and seconds per epoch, and ends with one line
   ``field: neuro <r> in <s> s, reference <r> in <s> s`` (test correlation to the trial-averaged
   response, total training seconds).

The reference code is only run, never imported by neuro.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
VENV = BENCH / ".venv-field"
PACKAGES = ["torch<=2.14.1", "neuralpredictors==0.3.0"]
SIZES = {  # generate_static arguments
    "full": {"neurons": 1000, "n_train": 4472, "n_val": 522, "n_test": 100, "repeats": 10},
    "small": {"neurons": 100, "n_train": 600, "n_val": 100, "n_test": 20, "repeats": 10},
}


def ensure_venv() -> Path:
    python = VENV / "bin" / "python"
    probe = [str(python), "-c", "import torch, neuralpredictors"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    print(f"creating {VENV} (torch and neuralpredictors 0.3.0 from the registry; a few minutes)", flush=True)
    subprocess.run(["python3.11", "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *PACKAGES], check=True)
    return python


def ensure_dataset(path: Path, size: str, seed: int) -> Path:
    from neuro_datasets.static_synth import GENERATOR_VERSION, existing_params, generate_static, write_static

    wanted = {**SIZES[size], "seed": seed}
    have = existing_params(path) or {}
    if have.get("generator_version") == GENERATOR_VERSION and all(have.get(k) == v for k, v in wanted.items()):
        print(f"reusing {path}", flush=True)
        return path
    print(f"generating the synthetic static dataset ({size}) into {path}", flush=True)
    tick = time.perf_counter()
    write_static(generate_static(**wanted), path)
    print(f"  {time.perf_counter() - tick:.0f} s", flush=True)
    return path


def run_reference(python: Path, data: Path, epochs: int, out: Path) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}
    cmd = [str(python), str(BENCH / "field_reference_runner.py"), str(data), str(out), "--epochs", str(epochs),
           "--threads", "2"]
    subprocess.run(cmd, check=True, env=env)
    return json.loads(out.read_text())


def run_neuro(data: Path, epochs: int, store_root: Path, repetitions: int = 1) -> dict:
    """``lurz2021`` from experiments.yaml, ``repetitions`` of it trained together (one by default),
    pointed at ``data``, trained in-process; the first repetition's scores."""
    from msc_neuro_cli.plugin_system.manager import registries
    from msc_neuro_cli.runs.worker import run_worker
    from msc_neuro_cli.spec.manifest import load_manifest
    from msc_neuro_cli.spec.plan import plan_experiment
    from msc_neuro_cli.store.run_store import RunStore

    plan = plan_experiment(load_manifest(REPO / "experiments.yaml").get("lurz2021"), registries())[0]
    spec = copy.deepcopy(plan.spec)
    spec["dataset"]["params"]["path"] = str(data)
    spec["training"]["epochs"] = epochs
    spec["seeds"] = [spec["seeds"][0] + i for i in range(repetitions)]  # seed 0 first, as the plan
    store = RunStore(store_root)
    store.write_spec(plan.run_id, spec)
    # Threads as `neuro run` with one job sets them (the local backend gives the worker every core),
    # unless the caller chose (bench_replicas.py).
    os.environ.setdefault("NEURO_THREADS", str(os.cpu_count()))
    tick = time.perf_counter()
    if run_worker(store.root, str(plan.run_id)) != 0:
        raise SystemExit("neuro's lurz2021 run failed (see above)")
    wall = time.perf_counter() - tick
    rep = json.loads((store.run_dir(plan.run_id) / "record.json").read_text())["repetitions"][0]
    tier = rep.get("test")  # the record's test-tier scores (msc_neuro_cli/metrics/tier_scores.py)
    if not tier:
        raise SystemExit("neuro's record has no test-tier scores: is the dataset's test tier there?")
    scores = {"test_correlation_to_average": tier["correlation"],
              "test_single_trial_correlation": tier["single_trial_correlation"],
              "test_fraction_of_oracle": tier.get("fraction_of_oracle") or float("nan")}
    return {"epochs": rep["epochs"], "seconds_total": rep["seconds"], "worker_seconds": wall,
            "seconds_per_epoch": rep["seconds"] / max(rep["epochs"], 1),
            "best_validation_correlation": rep.get("val_correlation"), **scores}


def describe(name: str, result: dict) -> str:
    return (f"{name:>9}: test r to average {result['test_correlation_to_average']:.3f}, single-trial "
            f"{result['test_single_trial_correlation']:.3f}, fraction of oracle {result['test_fraction_of_oracle']:.3f}; "
            f"{result['epochs']} epochs, {result['seconds_per_epoch']:.1f} s per epoch, "
            f"{result['seconds_total']:.0f} s training")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=200,
                        help="epoch cap for both (early stopping may end sooner)")
    parser.add_argument("--size", choices=sorted(SIZES), default="full", help="dataset size (small: a quick check)")
    parser.add_argument("--data", type=Path, help="static dataset folder (default data/synthetic_static[_small])")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed")
    parser.add_argument("--skip-reference", action="store_true", help="train neuro's model only")
    args = parser.parse_args()
    data = args.data or REPO / ("data/synthetic_static" if args.size == "full" else "data/synthetic_static_small")
    if args.data is None:
        ensure_dataset(data, args.size, args.seed)
    truth = data / "ground_truth.json"
    ceiling = json.loads(truth.read_text())["ceiling"] if truth.exists() else None
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the start", flush=True)
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-field-") as tmp:
        if not args.skip_reference:
            results["reference"] = run_reference(ensure_venv(), data, args.epochs, Path(tmp) / "reference.json")
        results["neuro"] = run_neuro(data, args.epochs, Path(tmp) / "store")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    if ceiling:
        print(f"true ceiling (median over neurons): {ceiling['trial_average']['median']:.3f} to the trial average, "
              f"{ceiling['single_trial']['median']:.3f} single-trial")
    for name, result in results.items():
        print(describe(name, result))
    ref = results.get("reference")
    neuro = results["neuro"]
    ref_text = (f"reference {ref['test_correlation_to_average']:.3f} in {ref['seconds_total']:.0f} s" if ref
                else "reference skipped")
    print(f"field: neuro {neuro['test_correlation_to_average']:.3f} in {neuro['seconds_total']:.0f} s, {ref_text}")


if __name__ == "__main__":
    main()
