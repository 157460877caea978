"""Repetitions trained together: the standard model (``lurz2021``) at R = 1 and R = 4.

    .venv/bin/python bench/bench_replicas.py [--epochs 3] [--rounds 2] [--replicas 1,4,4/4] [--data DIR] [--phases]

A benchmark, not a test. Each configuration trains ``lurz2021`` from experiments.yaml through the
worker (the same code path as ``neuro run``) on the synthetic static dataset (1000 neurons, 36 x 64
images, 4472 training trials; generated on first use), capped at ``--epochs`` epochs, in its own
process, configurations interleaved round by round. Per configuration it prints the median over
rounds of the seconds per epoch (training only: the first epoch, which includes TensorFlow's
tracing, is in it, as a user pays it), the repetition-epochs per second, their ratio to R = 1
measured in the same run, the process's peak memory and the CPU seconds it used. ``R/G`` trains R
repetitions in G concurrent replica groups (``NEURO_THREADS=G``; plain R as ``neuro run`` with one
job trains it: ``NEURO_THREADS`` = cores, one group per core), ``R/G/I`` also sets I intra-op threads
(``NEURO_INTRA_THREADS``; default: :func:`msc_neuro_cli.engine.placement.thread_pools`).

Targets (issue 13): R = 4 at least 1.5x the repetition-epochs per second of R = 1; peak memory
of R = 4 under 4 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

from bench_field import ensure_dataset, run_neuro  # noqa: E402


class PhaseMemory:
    """Resident memory sampled every 50 ms, each sample tagged with what the trainer was doing
    (``train``, ``predict <rows>``, or ``between`` for the host work around them: scoring, records);
    the peak per phase says where a run's peak is reached. Wraps two engine methods, a benchmark's
    privilege: nothing in neuro depends on it."""

    def __init__(self):
        from msc_neuro_cli.engine import replica_group, trainer

        self.phase, self.peaks = "start", {}
        threading.Thread(target=self._sample, daemon=True).start()
        self._wrap(trainer.ReplicatedTrainer, "_call", lambda *a: "train")
        self._wrap(replica_group.ReplicaGroup, "predict", lambda group, x, *rest: f"predict {len(x)}")

    def _wrap(self, cls, name, label):
        original = getattr(cls, name)

        def wrapped(*args, **kwargs):
            self.phase = label(*args)
            try:
                return original(*args, **kwargs)
            finally:
                self.phase = "between"
        setattr(cls, name, wrapped)

    def _sample(self):
        while True:
            with open("/proc/self/statm") as statm:
                mb = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
            self.peaks[self.phase] = max(self.peaks.get(self.phase, 0.0), mb)
            time.sleep(0.05)


def child(data: Path, epochs: int, replicas: int, phases: bool) -> None:
    """Train once and print one JSON line: wall, epochs, peak RSS, CPU seconds (and peaks by phase)."""
    memory = PhaseMemory() if phases else None
    with tempfile.TemporaryDirectory(prefix="bench-replicas-") as tmp:
        result = run_neuro(data, epochs, Path(tmp) / "store", repetitions=replicas)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"replicas": replicas, "epochs": result["epochs"], "seconds": result["seconds_total"],
                      "peak_mb": usage.ru_maxrss / 1024, "cpu_s": usage.ru_utime + usage.ru_stime,
                      **({"phases": {k: round(v) for k, v in memory.peaks.items()}} if memory else {})}))


def measure(data: Path, epochs: int, config: str, phases: bool = False) -> dict:
    replicas, groups, intra = (config.split("/") + ["", ""])[:3]
    env = dict(os.environ)  # plain R: run_neuro sets the threads `neuro run` would
    if groups:
        env["NEURO_THREADS"] = groups
    if intra:
        env["NEURO_INTRA_THREADS"] = intra
    cmd = [sys.executable, __file__, "--child", replicas, "--epochs", str(epochs), "--data", str(data)]
    cmd += ["--phases"] if phases else []
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"R = {config} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs per training (early stopping cannot end 3)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--replicas", default="1,4", help="comma-separated R, R/G (G replica groups) or R/G/I "
                        "(I intra-op threads) values; the first is the baseline")
    parser.add_argument("--data", type=Path, default=REPO / "data/synthetic_static")
    parser.add_argument("--phases", action="store_true", help="also sample memory every 50 ms and print the "
                        "peak by phase (training calls, predictions, host work between them)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.data, args.epochs, args.child, args.phases)
        return
    ensure_dataset(args.data, "full", 0)
    configs = args.replicas.split(",")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the start", flush=True)
    runs: dict[str, list[dict]] = {r: [] for r in configs}
    for round_no in range(args.rounds):
        for r in configs:
            result = measure(args.data, args.epochs, r, args.phases)
            runs[r].append(result)
            print(f"round {round_no + 1} R = {r}: {result['seconds']:.0f} s for {result['epochs']} epochs, "
                  f"peak {result['peak_mb']:.0f} MB, {result['cpu_s']:.0f} CPU s", flush=True)
            if "phases" in result:
                print("  peak MB by phase: " + ", ".join(f"{k} {v}" for k, v in result["phases"].items()), flush=True)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    base = None
    for r in configs:
        per_epoch = statistics.median(x["seconds"] / x["epochs"] for x in runs[r])
        rate = int(r.partition("/")[0]) / per_epoch
        base = base or rate
        peak = max(x["peak_mb"] for x in runs[r])
        cpu = statistics.median(x["cpu_s"] for x in runs[r])
        print(f"replicas: R = {r}: {per_epoch:.1f} s per epoch, {rate:.3f} repetition-epochs/s, "
              f"{rate / base:.2f}x R = {configs[0]}, peak {peak:.0f} MB, {cpu:.0f} CPU s")


if __name__ == "__main__":
    main()
