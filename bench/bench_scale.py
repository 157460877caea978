"""Scale of the run store and of submission, against the targets of issue 14.

    source /tmp/neuro-engines/env.sh   # for the Slurm part (skipped when sbatch is not on PATH)
    .venv/bin/python bench/bench_scale.py [--runs 1000] [--reps 5] [--store-runs 10000] [--keep DIR]
                                          [--skip-slurm] [--status-only] [--baseline REV]

A benchmark, not a test. In a temporary folder it

1. plans a sweep of ``--runs`` runs x ``--reps`` repetitions and submits it to Slurm as one job
   array that is held (``extra: [--hold]``), then cancels the array (``scancel``);
2. plans the same sweep through the local backend's planner (``neuro run --dry-run``);
3. writes a store of ``--store-runs`` finished runs with the store's own writers (spec, state with
   the worker's score summary, record, one result file per repetition) and times ``neuro status``
   and ``neuro status --json`` over it.

Each command runs as a child of a small wrapper process that reports the child's wall seconds,
CPU seconds (user + sys, which a loaded machine inflates less than wall) and peak memory
(``resource.getrusage(RUSAGE_CHILDREN)``). Targets: submission < 60 s, status < 2 s, memory < 500 MB.

``--baseline REV`` also runs every command with the code of git revision REV (exported next to
the work folder and put first on PYTHONPATH, plugins included), in the same run on the same
store, and prints the ratios baseline / now.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGETS = {"submit": 60.0, "status": 2.0, "memory_mb": 500.0}

MANIFEST = """\
version: 1
defaults:
  training: {{epochs: 10, batch_size: 16, learning_rate: 1.0e-3, summary_every: 5}}
experiments:
  big:
    folder: scale
    name: "hsm_h{{hidden}}_l{{l2}}"
    dataset: {{name: antolik2016, path: {data}, regions: [1], preprocess: {{inputs: zscore}}}}
    model:
      - {{component: diff_of_gaussians, units: 3}}
      - {{component: normal, units: "${{hidden}}N", activation: softplus}}
      - {{component: normal, units: N, activation: softplus, regularizers: {{l2: "${{l2}}"}}}}
    grid: {{hidden: {hidden}, l2: {l2}}}
    repetitions: {reps}
profiles:
  held:
    backend: slurm
    extra: ["--hold"]
"""

# Runs the command given as argv[1:], then prints its wall and CPU seconds and peak RSS (KiB) as JSON.
WRAPPER = """\
import json, resource, subprocess, sys, time
t0 = time.perf_counter()
proc = subprocess.run(sys.argv[1:], capture_output=True, text=True)
wall = time.perf_counter() - t0
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_kib": usage.ru_maxrss,
                  "rc": proc.returncode, "out": proc.stdout[-2000:], "err": proc.stderr[-2000:]}))
"""


def measure(argv: list[str], cwd: Path, env: dict | None = None) -> dict:
    proc = subprocess.run([sys.executable, "-c", WRAPPER, *argv], cwd=cwd, capture_output=True, text=True,
                          check=True, env=env)
    result = json.loads(proc.stdout)
    if result["rc"] != 0:
        raise SystemExit(f"`{' '.join(argv)}` exited {result['rc']}:\n{result['out']}\n{result['err']}")
    return result


def baseline_env(rev: str, work: Path) -> dict:
    """An environment running the code of git revision ``rev``: its tree exported under ``work``,
    first on PYTHONPATH with each of its plugin folders (the installed entry points name modules)."""
    tree = work / f"baseline-{rev}"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    paths = [str(tree), *(str(p) for p in sorted((tree / "plugins").iterdir()) if p.is_dir())]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def neuro(*args: str) -> list[str]:
    return [sys.executable, "-m", "msc_neuro_cli", *args]


def grid(runs: int) -> tuple[list, list]:
    """Two axes whose product is ``runs`` (hidden x l2)."""
    first = next(n for n in range(int(runs ** 0.5), 0, -1) if runs % n == 0)
    return [round(0.1 * (i + 1), 2) for i in range(first)], [round(1e-3 * (j + 1), 4) for j in range(runs // first)]


def write_manifest(work: Path, runs: int, reps: int) -> None:
    from msc_neuro_cli.testing import write_tiny_dataset

    data = write_tiny_dataset(work / "data")
    hidden, l2 = grid(runs)
    (work / "experiments.yaml").write_text(MANIFEST.format(data=data, hidden=hidden, l2=l2, reps=reps))


def synthetic_store(work: Path, runs: int, reps: int) -> Path:
    """A store of ``runs`` finished runs written as the worker writes them (no training)."""
    from msc_neuro_cli.plugin_system.manager import registries
    from msc_neuro_cli.runs.results import record_scores
    from msc_neuro_cli.spec.manifest import load_manifest
    from msc_neuro_cli.spec.plan import plan_experiment
    from msc_neuro_cli.store.run_store import RunStore

    os.fsync = lambda fd: None  # a synthetic store need not survive a power cut: write it fast
    sub = work / "status"
    sub.mkdir()
    write_manifest(sub, runs, reps)
    store = RunStore(sub / "training_data")
    neurons = 100
    for plan in plan_experiment(load_manifest(sub / "experiments.yaml").get("big"), registries()):
        rid = plan.run_id
        store.write_spec(rid, plan.spec)
        results = []
        for rep in range(reps):
            result = {"rep": rep, "seed": plan.seeds[rep], "epochs": 10, "seconds": 1.0,
                      "val_correlation": 0.4, "train_correlation": 0.5,
                      "val_correlation_per_neuron": [0.4] * neurons, "train_correlation_per_neuron": [0.5] * neurons,
                      "curve": [{"epoch": e, "loss": 1.0, "train_correlation": 0.5, "val_correlation": 0.4}
                                for e in (0, 4, 9)]}
            store.write_rep(rid, rep, result)
            results.append(result)
        summary = {"median": 0.4, "p10": 0.4, "p90": 0.4, "n": reps}
        record = {"run_id": str(rid), "val_correlation": summary, "train_correlation": summary,
                  "repetitions": results, "spec": plan.spec}
        store.write_record(rid, record)
        store.update_state(rid, state="running", backend="local", backend_plugin="local", profile={"threads": 0},
                           reps_total=reps, epochs=10)
        store.update_state(rid, state="finished", reps_done=reps, epoch=10, scores=record_scores(record))
    return sub


def report(name: str, results: dict[str, dict], target: float | None) -> None:
    """One line per code version (``now``, and ``baseline`` when measured), then the ratios."""
    for label, result in results.items():
        mb = result["rss_kib"] / 1024
        verdict = [] if target is None else [f"{'ok' if result['wall'] < target else 'MISSED'} (< {target:g} s)"]
        verdict.append(f"{'ok' if mb < TARGETS['memory_mb'] else 'MISSED'} (< {TARGETS['memory_mb']:g} MB)")
        print(f"{name + ' [' + label + ']':<46} {result['wall']:8.2f} s wall {result['cpu']:8.2f} s cpu "
              f"{mb:8.1f} MB  " + ", ".join(verdict), flush=True)
    if "baseline" in results:
        before, now = results["baseline"], results["now"]
        print(f"{'  baseline / now':<46} {before['wall'] / now['wall']:8.2f}x wall {before['cpu'] / now['cpu']:7.2f}x cpu "
              f"{before['rss_kib'] / now['rss_kib']:8.2f}x memory", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--store-runs", type=int, default=10000)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument("--skip-slurm", action="store_true", help="no Slurm submission")
    parser.add_argument("--status-only", action="store_true", help="only the status part")
    parser.add_argument("--baseline", metavar="REV", help="also measure git revision REV, for ratios")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="neuro-bench-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        envs = {"now": None, **({"baseline": baseline_env(args.baseline, work)} if args.baseline else {})}
        print(f"sweep of {args.runs} runs x {args.reps} repetitions; store of {args.store_runs} runs ({work})"
              + (f"; baseline {args.baseline}" if args.baseline else ""))
        if not args.status_only:
            sweeps = {label: work / f"sweep-{label}" for label in envs}
            for sweep in sweeps.values():
                sweep.mkdir(exist_ok=True)
                write_manifest(sweep, args.runs, args.reps)
            report("local planner (neuro run --dry-run)",
                   {label: measure(neuro("run", "big", "--dry-run"), sweeps[label], env) for label, env in envs.items()},
                   TARGETS["submit"])
        if shutil.which("sbatch") and not args.skip_slurm and not args.status_only:
            results = {}
            for label, env in envs.items():
                results[label] = measure(neuro("run", "big", "--backend", "held"), sweeps[label], env)
                states = sweeps[label] / "training_data" / "runs" / "scale"
                jobs = {json.loads(p.read_text())["job_id"].split("_")[0] for p in states.glob("*/state.json")}
                subprocess.run(["scancel", *sorted(jobs)], check=False, capture_output=True)
                print(f"  [{label}] {len(list(states.glob('*/state.json')))} runs queued as array job(s) "
                      f"{', '.join(sorted(jobs))}; cancelled")
            report("slurm submission (held array)", results, TARGETS["submit"])
        elif not args.status_only:
            print("slurm submission: skipped (--skip-slurm, or sbatch not on PATH: source /tmp/neuro-engines/env.sh)")
        t0 = time.perf_counter()
        status_dir = synthetic_store(work, args.store_runs, args.reps)
        print(f"  (synthetic store written in {time.perf_counter() - t0:.0f} s)")
        for args_ in (("status",), ("status", "--json")):
            report(f"neuro {' '.join(args_)}", {label: measure(neuro(*args_), status_dir, env)
                                                 for label, env in envs.items()}, TARGETS["status"])
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
