"""Benchmark: training steps of the field's standard convolutional core in several formulations.

    .venv/bin/python bench/bench_conv.py [--configs a,b,...] [--rounds N] [--window S] [--torch] [--list]

The core (Lurz et al. 2021): a 9 x 9 VALID first convolution 1 -> 64, then 3 depth-separable
layers (depthwise 7 x 7 SAME + pointwise 1 x 1) of 64 channels, batch norm (batch statistics)
and ELU after every layer, on 36 x 64 grey images, batch 64. One step = forward, the gradient of a
loss with respect to every weight and every layer's input, and a plain SGD update; data stay the
same (the core's speed does not depend on them). An epoch of the field's 4472 training trials is
70 such steps.

Each configuration runs in its own worker process (its own thread settings, clean peak memory);
the parent runs their timed windows interleaved, round by round, so all see the same machine load,
and reports medians of ms per step, repetition-epochs per second, and ratios to the baseline
measured in the same run: ``tfnn`` at R = 1 (what Keras' SeparableConv2D computes, via tf.nn).
The first call (tracing, XLA compilation) is timed separately. ``--torch`` adds the reference:
the same core in PyTorch on the CPU, channels_last, run with bench/.venv-field/bin/python (made by
bench/bench_field.py; it needs only ``torch`` there).
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
ROOT = os.path.dirname(HERE)
TORCH_PYTHON = os.path.join(HERE, ".venv-field", "bin", "python")
B, HEIGHT, WIDTH, C, K_FIRST, K_HIDDEN, HIDDEN_LAYERS = 64, 36, 64, 64, 9, 7, 3
STEPS_PER_EPOCH = 70  # ceil(4472 / 64)

# name -> formulation, replicas, threads (intra = inter), replica groups (Python threads), XLA
CONFIGS = {
    "tfnn R1": ("tfnn", 1, 2, 1, False),
    "tfnn R1 xla": ("tfnn", 1, 2, 1, True),
    "tfnn-nchw R1": ("tfnn-nchw", 1, 2, 1, False),
    "tfnn+fbn R1": ("tfnn+fbn", 1, 2, 1, False),
    "shifted R1 xla": ("shifted", 1, 2, 1, True),
    "ops R1": ("ops", 1, 2, 1, False),
    "ops R1 xla": ("ops", 1, 2, 1, True),
    "ops+fbn R1": ("ops+fbn", 1, 2, 1, False),
    "ops+fbn R1 1thread": ("ops+fbn", 1, 1, 1, False),
    "tfnn R4": ("tfnn", 4, 2, 1, False),
    "fold R4": ("fold", 4, 2, 1, False),
    "ops+fbn R4": ("ops+fbn", 4, 2, 1, False),
    "ops+fbn R4 2groups": ("ops+fbn", 4, 2, 2, False),
    "foldops+fbn R4": ("foldops+fbn", 4, 2, 1, False),
    "foldops+fbn R4 2groups": ("foldops+fbn", 4, 2, 2, False),
    "torch R1": ("torch", 1, 2, 1, False),
}
DEFAULT = ["tfnn R1", "ops R1", "ops+fbn R1", "ops+fbn R4", "ops+fbn R4 2groups", "foldops+fbn R4"]
BASELINE = "tfnn R1"


# ---------------------------------------------------------------------------------- TF core
def tf_core(formulation: str, replicas: int):
    """(variables, forward(x) -> features) of the core in ``formulation``; x (R, B, 36, 64, 1)."""
    import numpy as np
    import tensorflow as tf
    sys.path.insert(0, os.path.join(ROOT, "plugins", "neuro-cores"))
    from neuro_cores import conv_ops

    rng = np.random.default_rng(0)

    def var(*shape, scale=0.1):
        return tf.Variable((rng.normal(size=(replicas, *shape)) * scale).astype("float32"))

    first = var(K_FIRST, K_FIRST, 1, C)
    depth = [var(K_HIDDEN, K_HIDDEN, C) for _ in range(HIDDEN_LAYERS)]
    point = [var(C, C) for _ in range(HIDDEN_LAYERS)]
    gammas = [tf.Variable(tf.ones((replicas, C))) for _ in range(HIDDEN_LAYERS + 1)]
    betas = [tf.Variable(tf.zeros((replicas, C))) for _ in range(HIDDEN_LAYERS + 1)]
    variables = [first, *depth, *point, *gammas, *betas]
    def per_replica(fn, *args):  # unstack: the gradients of R slices a[r] are R full-size scatters
        return tf.stack([fn(r, *parts) for r, parts in enumerate(zip(*(tf.unstack(a) for a in args)))])

    def bn_elu(z, i):  # batch statistics per replica and channel
        if formulation.endswith("+fbn"):  # TF's fused (oneDNN) batch norm, 4-D per replica
            return per_replica(lambda r, zr: tf.nn.elu(tf.compat.v1.nn.fused_batch_norm(
                zr, gammas[i][r], betas[i][r], epsilon=1e-5, is_training=True)[0]), z)
        mean, var_ = tf.nn.moments(z, axes=[1, 2, 3], keepdims=True)
        g, b = gammas[i][:, None, None, None, :], betas[i][:, None, None, None, :]
        return tf.nn.elu(g * (z - mean) * tf.math.rsqrt(var_ + 1e-5) + b)

    def depthwise(h, i):
        if formulation.startswith("ops"):
            return conv_ops.depthwise_conv(h, depth[i], "same")
        if formulation.startswith("fold"):  # replicas folded into channels: one op of R*C channels
            r, c = h.shape[0], h.shape[-1]
            s = tf.shape(h)
            folded = tf.reshape(tf.transpose(h, [1, 2, 3, 0, 4]), [s[1], s[2], s[3], r * c])
            filters = tf.reshape(tf.transpose(depth[i], [1, 2, 0, 3]), [K_HIDDEN, K_HIDDEN, r * c])
            if formulation.startswith("foldops"):  # with conv_ops' filter gradient
                y = conv_ops.depthwise2d(folded, filters, "same")
            else:                                  # with TensorFlow's own gradients
                y = tf.nn.depthwise_conv2d(folded, filters[..., None], [1, 1, 1, 1], "SAME")
            return tf.transpose(tf.reshape(y, [s[1], s[2], s[3], r, c]), [3, 0, 1, 2, 4])
        if formulation == "shifted":  # sum over the 49 taps of a shifted slice times a per-channel weight
            pad = K_HIDDEN // 2
            hp = tf.pad(h, [[0, 0], [0, 0], [pad, pad], [pad, pad], [0, 0]])
            height, width = h.shape[2], h.shape[3]
            return tf.add_n([hp[:, :, a:a + height, b:b + width, :] * depth[i][:, None, None, None, a, b, :]
                             for a in range(K_HIDDEN) for b in range(K_HIDDEN)])
        fmt = "NCHW" if formulation == "tfnn-nchw" else "NHWC"
        return per_replica(lambda r, hr: tf.nn.depthwise_conv2d(
            hr, depth[i][r][..., None], [1, 1, 1, 1], "SAME", data_format=fmt), h)

    def forward(x):
        if formulation.startswith("tfnn") or formulation == "shifted":
            h = per_replica(lambda r, xr: tf.nn.conv2d(xr, first[r], 1, "VALID"), x)
        else:
            h = conv_ops.first_conv(x, first)
        h = bn_elu(h, 0)
        if formulation == "tfnn-nchw":
            h = tf.transpose(h, [0, 1, 4, 2, 3])
        for i in range(HIDDEN_LAYERS):
            h = depthwise(h, i)
            if formulation == "tfnn-nchw":  # pointwise in NHWC (TF's CPU conv2d has no NCHW)
                h = tf.transpose(h, [0, 1, 3, 4, 2])
            h = conv_ops.pointwise_conv(h, point[i]) if not formulation.startswith("tfnn") else \
                per_replica(lambda r, hr: tf.nn.conv2d(hr, point[i][r][None, None], 1, "SAME"), h)
            h = bn_elu(h, i + 1)
            if formulation == "tfnn-nchw" and i < HIDDEN_LAYERS - 1:
                h = tf.transpose(h, [0, 1, 4, 2, 3])
        return h

    return variables, forward


class TFWorker:
    def __init__(self, formulation, replicas, threads, groups, xla):
        import numpy as np
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        rng = np.random.default_rng(1)
        self.steps = []
        for size in [replicas // groups + (g < replicas % groups) for g in range(groups)]:
            variables, forward = tf_core(formulation, size)
            x = tf.constant(rng.normal(size=(size, B, HEIGHT, WIDTH, 1)).astype("float32"))
            out = K_FIRST - 1
            probe = tf.constant(rng.normal(size=(size, B, HEIGHT - out, WIDTH - out, C)).astype("float32"))

            def step(variables=variables, forward=forward, x=x, probe=probe):
                with tf.GradientTape() as tape:  # the images' own gradient is not needed
                    loss = tf.reduce_mean(forward(x) * probe)
                grads = tape.gradient(loss, variables)
                for v, g in zip(variables, grads):
                    v.assign_sub(1e-3 * g)
                return loss
            self.steps.append(tf.function(step, jit_compile=xla))
        self.pool = None
        if groups > 1:
            from concurrent.futures import ThreadPoolExecutor
            self.pool = ThreadPoolExecutor(groups)

    def run(self, steps: int) -> None:
        for _ in range(steps):
            if self.pool is None:
                self.steps[0]().numpy()
            else:
                list(self.pool.map(lambda f: f().numpy(), self.steps))


# ---------------------------------------------------------------------------------- torch reference
class TorchWorker:
    """The same core in PyTorch (channels_last, the reference's fastest honest CPU setting)."""

    def __init__(self, formulation, replicas, threads, groups, xla):
        import torch
        from torch import nn
        torch.set_num_threads(threads)
        layers = [nn.Conv2d(1, C, K_FIRST, bias=False), nn.BatchNorm2d(C), nn.ELU()]
        for _ in range(HIDDEN_LAYERS):
            layers += [nn.Conv2d(C, C, K_HIDDEN, padding=K_HIDDEN // 2, groups=C, bias=False),
                       nn.Conv2d(C, C, 1, bias=False), nn.BatchNorm2d(C), nn.ELU()]
        self.models = [nn.Sequential(*layers).to(memory_format=torch.channels_last) for _ in range(replicas)]
        self.opts = [torch.optim.SGD(m.parameters(), lr=1e-3) for m in self.models]
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(B, 1, HEIGHT, WIDTH, generator=g).to(memory_format=torch.channels_last)
        self.x.requires_grad_(True)
        out = K_FIRST - 1
        self.probe = torch.randn(B, C, HEIGHT - out, WIDTH - out, generator=g)

    def run(self, steps: int) -> None:
        for _ in range(steps):
            for model, opt in zip(self.models, self.opts):
                opt.zero_grad()
                (model(self.x) * self.probe).mean().backward()
                opt.step()


# ---------------------------------------------------------------------------------- worker process
def worker_main(name: str) -> None:
    import resource
    formulation, replicas, threads, groups, xla = CONFIGS[name]
    start = time.perf_counter()
    try:
        worker = (TorchWorker if formulation == "torch" else TFWorker)(formulation, replicas, threads, groups, xla)
        worker.run(1)  # traces (and compiles)
    except Exception as e:  # reported as a row, e.g. a layout this CPU build does not support
        print(json.dumps({"error": f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"}), flush=True)
        return
    first = time.perf_counter() - start
    t0 = time.perf_counter()
    worker.run(1)
    print(json.dumps({"first_s": first, "step_s": time.perf_counter() - t0}), flush=True)
    for line in sys.stdin:
        cmd, *rest = line.split()
        if cmd == "run":
            t0, cpu0 = time.perf_counter(), time.process_time()
            worker.run(int(rest[0]))
            print(json.dumps({"wall": time.perf_counter() - t0, "cpu": time.process_time() - cpu0}), flush=True)
        elif cmd == "stats":
            print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}), flush=True)
            return


class Worker:
    def __init__(self, name: str):
        self.name, self.replicas = name, CONFIGS[name][1]
        python = TORCH_PYTHON if CONFIGS[name][0] == "torch" else sys.executable
        self.proc = subprocess.Popen([python, os.path.abspath(__file__), "--worker", name],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, cwd=ROOT)
        self.ready = self.ask(None)
        self.step_times: list[float] = []
        self.cpu_times: list[float] = []

    def ask(self, command: str | None) -> dict:
        if command is not None:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        return json.loads(line) if line else {"error": f"worker exited (code {self.proc.wait()})"}

    def window(self, seconds: float) -> None:
        steps = max(1, round(seconds / max(self.ready["step_s"], 1e-3)))
        out = self.ask(f"run {steps}")
        self.step_times.append(out["wall"] / steps)
        self.cpu_times.append(out["cpu"] / steps)

    def close(self) -> dict:
        stats = self.ask("stats")
        self.proc.wait(timeout=60)
        return stats


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default=",".join(DEFAULT), help="comma-separated names (see --list)")
    parser.add_argument("--torch", action="store_true", help="add the PyTorch reference (torch R1)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--window", type=float, default=2.0, help="seconds per timed window")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker_main(args.worker)
    if args.list:
        print("\n".join(f"{k}: {v}" for k, v in CONFIGS.items()))
        return
    names = [n.strip() for n in args.configs.split(",") if n.strip()]
    names = [BASELINE] + [n for n in names if n != BASELINE] + (["torch R1"] if args.torch else [])
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        raise SystemExit(f"bench_conv: unknown configuration(s) {unknown}; see --list")
    if "torch R1" in names and not os.path.exists(TORCH_PYTHON):
        raise SystemExit(f"bench_conv: {TORCH_PYTHON} is missing: run bench/bench_field.py first "
                         "(or make that venv and pip install torch into it)")
    workers, failed = [], {}
    for name in names:
        print(f"starting {name} ...", file=sys.stderr, flush=True)
        w = Worker(name)
        (failed.__setitem__(name, w.ready["error"]) if "error" in w.ready else workers.append(w))
    for r in range(args.rounds):
        for w in workers:
            w.window(args.window)
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    stats = {w.name: w.close() for w in workers}
    base = next((statistics.median(w.step_times) / w.replicas for w in workers if w.name == BASELINE), None)
    print(f"{'configuration':<24} {'first s':>8} {'ms/step':>8} {'CPU ms':>8} {'epoch s':>8} {'rep-ep/s':>9} "
          f"{'vs base':>8} {'peak MB':>8}")
    for w in workers:
        step = statistics.median(w.step_times)
        epoch = STEPS_PER_EPOCH * step
        speed = f"{base / (step / w.replicas):.2f}x" if base else "-"
        print(f"{w.name:<24} {w.ready['first_s']:8.1f} {step * 1e3:8.0f} {statistics.median(w.cpu_times) * 1e3:8.0f} "
              f"{epoch:8.1f} {w.replicas / epoch:9.3f} {speed:>8} {stats[w.name].get('peak_rss_mb', 0):8.0f}")
    for name, error in failed.items():
        print(f"{name:<20} failed: {error}")
    rates = {w.name: w.replicas / statistics.median(w.step_times) for w in workers}
    best = {r: max(((v, k) for k, v in rates.items() if f" R{r}" in k and "ops" in k), default=None) for r in (1, 4)}
    if best[1] and "torch R1" in rates:
        print(f"conv: {best[1][1]} {best[1][0] / rates['torch R1']:.2f}x torch's steps/s")
    if best[1] and best[4]:
        print(f"conv: {best[4][1]} {best[4][0] / best[1][0]:.2f}x the rep-epochs/s of {best[1][1]}")


if __name__ == "__main__":
    main()
