"""Benchmark: the replicated engine against plain Keras ``model.fit`` on the thesis HSM (Baseline 4).

    .venv/bin/python bench/bench_trainer.py [--quick] [--rounds N] [--window SECONDS]
                                             [--precision P] [--no-xla]

Each configuration (baseline, engine R=1, engine R=25) lives in its own worker process (clean peak
memory, its own thread settings); the parent runs their timed windows interleaved, round by round,
so all three see the same machine load, and reports medians over rounds of repetition-epochs per
second. Compilation and warm-up are timed separately. Then a short profile, the model's FLOPs
against measured matrix-product rates, and the estimated wall time of the thesis Baseline 4
(25 repetitions x 35000 epochs). The last line is ``speedup R=1 <a>x R=25 <b>x``.

One more engine configuration, at R=25 in ``--precision`` (default mixed_bfloat16; float32 leaves it
out), runs interleaved with the others and is reported against the baseline and against float32 at
the same R; the last line stays float32. ``--no-xla`` runs every engine configuration without XLA.

Data are random, shaped like Antolik region 1: 1800 training and 50 validation images of 31x31
pixels, 103 neurons.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROWS, VAL_ROWS, SIDE, NEURONS, BATCH = 1800, 50, 31, 103, 16
THESIS_REPS, THESIS_EPOCHS = 25, 35000


# ---------------------------------------------------------------------------------- workers
def _data():
    import numpy as np
    rng = np.random.default_rng(0)
    x = rng.normal(size=(ROWS + VAL_ROWS, SIDE * SIDE)).astype("float32")
    y = rng.poisson(1.0, size=(ROWS + VAL_ROWS, NEURONS)).astype("float32")
    return x[:ROWS], y[:ROWS], x[ROWS:], y[ROWS:]


def _peak_rss_mb() -> float:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


class BaselineWorker:
    replicas = 1

    def __init__(self, args):
        sys.path.insert(0, HERE)
        import keras_hsm
        x, y, xv, yv = _data()
        mean = __import__("numpy").concatenate([y, yv]).mean(axis=0)
        self.x, self.y = x, y
        self.model = keras_hsm.build(NEURONS, SIDE, SIDE, mean)
        self.info = {"jit_compile": bool(getattr(self.model, "jit_compile", False))}

    def run(self, epochs: int) -> None:
        self.model.fit(self.x, self.y, batch_size=BATCH, epochs=epochs, shuffle=True, verbose=0)


class EngineWorker:
    def __init__(self, args):
        from msc_neuro_cli.engine import placement
        intra, inter = placement.thread_pools(args.replicas, xla=not args.no_xla)
        placement.configure_threads(args.intra or intra, args.inter or inter)
        from msc_neuro_cli.engine.model import ComponentSpec, assemble
        from msc_neuro_cli.engine.trainer import ReplicatedTrainer, TrainingConfig
        from msc_neuro_cli.plugin_system.manager import registries
        reg = registries().components
        specs = [ComponentSpec("diff_of_gaussians", {"units": 9}, "bench[0]"),
                 ComponentSpec("normal", {"units": "0.2N", "activation": "softplus", "bias_init": "trunc_normal"},
                               "bench[1]"),
                 ComponentSpec("normal", {"units": "N", "activation": "softplus", "bias_init": "trunc_normal",
                                          "regularizers": {"l2": 0.1}}, "bench[2]")]
        self.replicas = args.replicas
        layers = assemble(specs, (SIDE, SIDE, 1), NEURONS, self.replicas, reg)
        config = TrainingConfig(epochs=0, batch_size=BATCH, learning_rate=1e-3, summary_every=10**9,
                                replica_groups=args.groups, precision=args.precision, xla=not args.no_xla)
        self.trainer = ReplicatedTrainer(layers, reg.losses.get("poisson"), config,
                                         list(range(self.replicas)), *_data())
        self.trainer.initialise()
        import tensorflow as tf
        self.info = {"groups": len(self.trainer.groups), "precision": args.precision, "xla": not args.no_xla,
                     "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
                     "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads()}

    def run(self, epochs: int) -> None:
        self.trainer.config.epochs = self.trainer.epoch + epochs
        self.trainer.train()

    def profile(self, epochs: int) -> dict:
        import numpy as np
        import tensorflow as tf
        import xla_profile
        from msc_neuro_cli.engine.trainer import MAX_EPOCHS_PER_CALL
        group = self.trainer.groups[0]
        orders = tf.constant(np.zeros((MAX_EPOCHS_PER_CALL, group.replicas, self.trainer.padded_rows), np.int32))
        args = group.chunk_args(orders, 0, epochs * self.trainer.batches)
        hlo = group.chunk.experimental_get_compiler_ir(*args)(stage="optimized_hlo")
        group.chunk(*args)
        wall, parts = xla_profile.profile(lambda: group.chunk(*args)[1].numpy(), hlo)
        return {"wall": wall, "parts": parts, "replicas": group.replicas, "epochs": epochs}


def matmul_rates() -> dict:
    """One core's GFLOP/s on a large product and on the model's own small batched products."""
    import numpy as np
    import tensorflow as tf

    def rate(a_shape, b_shape, transpose_b, flops, calls):
        a = tf.constant(np.random.default_rng(0).random(a_shape, np.float32))
        b = tf.constant(np.random.default_rng(1).random(b_shape, np.float32))

        @tf.function(jit_compile=True)
        def loop(a, b):
            i, acc = tf.constant(0), tf.zeros(())
            while i < calls:
                acc += tf.reduce_sum(tf.matmul(a + tf.cast(i, tf.float32) * 1e-9, b, transpose_b=transpose_b)[..., 0])
                i += 1
            return acc

        loop(a, b)
        best = min(_timed(lambda: loop(a, b).numpy()) for _ in range(3))
        return flops * calls / best / 1e9

    f, k = SIDE * SIDE, 9
    return {
        "large (2048x2048x2048)": rate((2048, 2048), (2048, 2048), False, 2 * 2048 ** 3, 5),
        "DoG forward, 13 replicas": rate((13, BATCH, f), (13, k, f), True, 2 * 13 * BATCH * f * k, 2000),
        "DoG weight gradient, 13 replicas": rate((13, k, BATCH), (13, BATCH, f), False, 2 * 13 * BATCH * f * k, 2000),
    }


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def worker_main(args) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.worker == "matmul":
        from msc_neuro_cli.engine import placement
        placement.configure_threads(1, 1)
        print(json.dumps(matmul_rates()), flush=True)
        return
    start = time.perf_counter()
    worker = BaselineWorker(args) if args.worker == "baseline" else EngineWorker(args)
    worker.run(1)  # traces and compiles
    compile_s = time.perf_counter() - start
    print(json.dumps({"ready": True, "compile_s": compile_s, **worker.info}), flush=True)
    for line in sys.stdin:
        cmd, *rest = line.split()
        if cmd == "run":
            epochs = int(rest[0])
            wall0, cpu0 = time.perf_counter(), time.process_time()
            worker.run(epochs)
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            print(json.dumps({"epochs": epochs, "replicas": worker.replicas, "wall": wall, "cpu": cpu}), flush=True)
        elif cmd == "profile":
            print(json.dumps(worker.profile(int(rest[0]))), flush=True)
        elif cmd == "stats":
            print(json.dumps({"peak_rss_mb": _peak_rss_mb()}), flush=True)
        elif cmd == "quit":
            return


# ---------------------------------------------------------------------------------- parent
class Worker:
    def __init__(self, label: str, extra: list[str], env: dict | None = None):
        self.label = label
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), *extra],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})},
                                     stderr=subprocess.DEVNULL)
        self.ready = self.read()
        self.rates: list[float] = []
        self.cpu_rates: list[float] = []

    def read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"bench: worker {self.label!r} exited early (code {self.proc.wait()})")
        return json.loads(line)

    def ask(self, command: str) -> dict:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.read()

    def window(self, epochs: int) -> dict:
        out = self.ask(f"run {epochs}")
        self.rates.append(out["replicas"] * out["epochs"] / out["wall"])
        self.cpu_rates.append(out["replicas"] * out["epochs"] / out["cpu"])
        return out

    def close(self) -> dict:
        stats = self.ask("stats")
        self.ask_quit()
        return stats

    def ask_quit(self) -> None:
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()
        self.proc.wait(timeout=60)


def model_flops_per_rep_epoch() -> dict:
    """Multiply-add FLOPs of one repetition's epoch: the products that dominate, per step x steps."""
    f, k, h, n, b = SIDE * SIDE, 9, int(0.2 * NEURONS), NEURONS, BATCH
    steps = -(-ROWS // b)
    dog = 2 * b * f * k * 2                      # forward + weight gradient (no input gradient)
    dense = 2 * b * (k * h + h * n) * 3          # forward, weight gradient, input gradient
    filters = f * k * 2 * 3 * 2                  # building both Gaussians and their gradients (rough)
    return {"steps": steps, "per_step": dog + dense + filters, "dog_share": dog / (dog + dense + filters),
            "per_epoch": steps * (dog + dense + filters)}


def fmt_hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run: 2 rounds of ~2 s windows, no R=1 profile")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds (default 5, quick 2)")
    parser.add_argument("--window", type=float, default=None, help="seconds per timed window (default 5, quick 2)")
    parser.add_argument("--replicas", type=int, default=25, help="R of the large engine configuration")
    parser.add_argument("--precision", default="mixed_bfloat16", choices=["float32", "mixed_bfloat16"],
                        help="precision of the extra engine configuration at R=--replicas (float32: none)")
    parser.add_argument("--no-xla", action="store_true", help="engine without XLA (TensorFlow ops, oneDNN)")
    parser.add_argument("--worker", choices=["baseline", "engine", "matmul"], help=argparse.SUPPRESS)
    parser.add_argument("--groups", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--intra", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--inter", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        sys.path.insert(0, HERE)
        if args.worker != "engine":
            args.precision = "float32"
        worker_main(args)
        return
    rounds = args.rounds or (2 if args.quick else 5)
    window = args.window or (2.0 if args.quick else 5.0)
    load0 = os.getloadavg()
    print(f"bench: HSM Baseline 4 on random data {ROWS}x{SIDE * SIDE} -> {NEURONS} neurons, batch {BATCH}; "
          f"{os.cpu_count()} CPUs, load average {load0[0]:.1f}" + (", engine without XLA" if args.no_xla else ""),
          flush=True)

    engine = ["--worker", "engine"] + (["--no-xla"] if args.no_xla else [])
    configs = [("baseline model.fit", ["--worker", "baseline"]),
               ("engine R=1", [*engine, "--replicas", "1", "--precision", "float32"]),
               (f"engine R={args.replicas}", [*engine, "--replicas", str(args.replicas), "--precision", "float32"])]
    if args.precision != "float32":
        configs.append((f"engine R={args.replicas} {args.precision}",
                        [*engine, "--replicas", str(args.replicas), "--precision", args.precision]))
    workers = []
    for label, extra in configs:
        start = time.perf_counter()
        worker = Worker(label, extra)
        print(f"  started {label}: compile + first epoch {worker.ready['compile_s']:.1f} s "
              f"({time.perf_counter() - start:.1f} s with start-up) "
              f"{ {k: v for k, v in worker.ready.items() if k not in ('ready', 'compile_s')} }", flush=True)
        workers.append(worker)

    # Size each worker's window from a short calibration run, then interleave the timed rounds.
    sizes = []
    for worker in workers:
        probe = worker.window(2 if worker.label.startswith("baseline") else 10)
        worker.rates.clear(), worker.cpu_rates.clear()
        per_epoch = probe["wall"] / probe["epochs"]
        sizes.append(max(1, round(window / per_epoch)))
    for r in range(rounds):
        for worker, epochs in zip(workers, sizes):
            worker.window(epochs)
        print(f"  round {r + 1}/{rounds}: " + ", ".join(f"{w.label} {w.rates[-1]:.1f}" for w in workers)
              + " rep-epochs/s", flush=True)
    stats = [w.close() for w in workers]

    base = statistics.median(workers[0].rates)
    base_cpu = statistics.median(workers[0].cpu_rates)
    print()
    print("| configuration | rep-epochs/s (median) | per CPU-second | vs baseline | compile s | peak RSS MB "
          "| thesis bl4 (25 x 35000) |")
    print("|---|---|---|---|---|---|---|")
    speedups = []
    for w, st in zip(workers, stats):
        med, cpu = statistics.median(w.rates), statistics.median(w.cpu_rates)
        speedups.append(med / base)
        print(f"| {w.label} | {med:.1f} | {cpu:.1f} | {med / base:.1f}x | {w.ready['compile_s']:.1f} "
              f"| {st['peak_rss_mb']:.0f} | {fmt_hours(THESIS_REPS * THESIS_EPOCHS / med)} |")
    print("(per CPU-second rates, vs baseline: " + ", ".join(
        f"{w.label} {statistics.median(w.cpu_rates) / base_cpu:.1f}x" for w in workers[1:]) + ")")
    if len(workers) > 3:  # the low-precision configuration against float32 at the same R, round by round
        paired = [lo / hi for lo, hi in zip(workers[3].rates, workers[2].rates)]
        print(f"{workers[3].label} vs float32 at R={args.replicas}: {speedups[3] / speedups[2]:.2f}x "
              f"(per round {', '.join(f'{p:.2f}' for p in paired)})")

    # Where the time goes.
    profiled = [] if args.no_xla else [(f"engine R={args.replicas}", args.replicas, 4)]  # profiles XLA ops
    if not args.quick and not args.no_xla:
        profiled.append(("engine R=1", 1, 20))
    if profiled:
        print("\nprofile of one compiled call (XLA operations, summed over threads):")
    for label, replicas, epochs in profiled:
        pw = Worker(label, [*engine, "--replicas", str(replicas), "--precision", "float32"],
                    env={"XLA_FLAGS": (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_enable_xprof_traceme=true")})
        prof = pw.ask(f"profile {epochs}")
        pw.ask_quit()
        total = sum(prof["parts"].values())
        steps = epochs * model_flops_per_rep_epoch()["steps"]
        print(f"  {label} (group of {prof['replicas']} replicas, {epochs} epochs, "
              f"{prof['wall'] / steps * 1e6:.0f} us per step):")
        for part, secs in sorted(prof["parts"].items(), key=lambda kv: -kv[1]):
            print(f"    {100 * secs / total:5.1f}%  {part}")

    # FLOPs against the machine.
    flops = model_flops_per_rep_epoch()
    mm = Worker("matmul", ["--worker", "matmul"]).ready
    cores = os.cpu_count() or 1
    best = max(statistics.median(w.rates) for w in workers[1:3])  # float32 configurations
    achieved = best * flops["per_epoch"] / 1e9
    print(f"\nFLOPs per repetition-epoch: {flops['per_epoch'] / 1e6:.0f} M ({flops['steps']} steps x "
          f"{flops['per_step'] / 1e3:.0f} k; {100 * flops['dog_share']:.0f}% in the DoG layer's two products)")
    print(f"achieved: {achieved:.1f} GFLOP/s at {best:.1f} rep-epochs/s; baseline {base * flops['per_epoch'] / 1e9:.2f} GFLOP/s")
    for name, gflops in mm.items():
        limit = cores * gflops * 1e9 / flops["per_epoch"]
        print(f"  one core, {name}: {gflops:.1f} GFLOP/s -> limit on {cores} cores {limit:.0f} rep-epochs/s "
              f"({limit / base:.0f}x baseline; engine at {100 * best / limit:.0f}% of it)")
    load1 = os.getloadavg()
    print(f"\nload average at the end {load1[0]:.1f} (other processes share these CPUs: compare ratios, "
          "not absolute rates)")
    print(f"speedup R=1 {speedups[1]:.1f}x R={args.replicas} {speedups[2]:.1f}x")


if __name__ == "__main__":
    main()
