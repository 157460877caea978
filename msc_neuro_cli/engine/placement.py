"""Where the work runs: thread pools, how many replicas fit in memory, how replicas split into groups.

Measured on the 2-core build machine (docs/performance.md): at batch 16 every op is tiny, so
TensorFlow's own intra-op threading costs more than it gains; the fastest layout is one thread per
compiled loop and, when several repetitions train together, one group of replicas per core, each
group's loop run from its own Python thread (TensorFlow releases the GIL while a compiled call runs).
"""

from __future__ import annotations

import math
import os
import warnings

import tensorflow as tf

from msc_neuro_cli.engine.training_schema import DEFAULT_BATCH_SIZE


def cpu_cores() -> int:
    """Cores this process may use (respects taskset/cgroup affinity where the OS reports it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def has_gpu() -> bool:
    return bool(tf.config.list_physical_devices("GPU"))


def configure_threads(intra_op: int | None, inter_op: int | None) -> bool:
    """Set TensorFlow's thread pools; only possible before TensorFlow runs its first op.

    Returns True when the settings are in force (set now, or already equal), False (with a
    warning) when TensorFlow had started with other values: the process then keeps its pools.
    """
    tune_xla_cpu_flags()
    threading = tf.config.threading
    wanted = {"intra": intra_op, "inter": inter_op}
    current = {"intra": threading.get_intra_op_parallelism_threads(),
               "inter": threading.get_inter_op_parallelism_threads()}
    if all(v is None or current[k] == v for k, v in wanted.items()):
        return True
    try:
        if intra_op is not None:
            threading.set_intra_op_parallelism_threads(int(intra_op))
        if inter_op is not None:
            threading.set_inter_op_parallelism_threads(int(inter_op))
    except RuntimeError:
        warnings.warn(f"TensorFlow already started: thread settings intra={intra_op} inter={inter_op} "
                      "ignored (set them before the first TensorFlow op)", RuntimeWarning, stacklevel=2)
        return False
    return True


# XLA CPU options measured on the 2-core build machine (docs/performance.md), each added to XLA_FLAGS
# unless the user's XLA_FLAGS names it. Neither changes what is computed beyond float rounding.
XLA_CPU_FLAGS = {
    # One thread per matrix product: with one replica group per core, Eigen splitting each small
    # product over the intra-op pool made the groups wait on each other (R = 25: 1.035-1.057x).
    "xla_cpu_multi_thread_eigen": "false",
    # 512-bit vectors for XLA's own elementwise code where the CPU has them (XLA prefers 256 bits):
    # R = 25 1.040-1.048x, R = 1 1.12x. Ignored by CPUs without AVX-512.
    "xla_cpu_prefer_vector_width": "512",
}


def tune_xla_cpu_flags() -> None:
    """Add :data:`XLA_CPU_FLAGS` to ``XLA_FLAGS``; effective only before XLA's first compile."""
    flags = os.environ.get("XLA_FLAGS", "")
    for name, value in XLA_CPU_FLAGS.items():
        if name not in flags:
            flags = f"{flags} --{name}={value}".strip()
    os.environ["XLA_FLAGS"] = flags


def default_groups(replicas: int) -> int:
    """Replica groups trained concurrently: one per core on CPU, one on a GPU."""
    if replicas <= 1 or has_gpu():
        return 1
    return min(replicas, cpu_cores())


def thread_pools(replicas: int, threads: int | None = None, xla: bool = True) -> tuple[int, int]:
    """(intra-op, inter-op) threads for training ``replicas`` repetitions at once on ``threads``
    threads (``NEURO_THREADS``: the local backend's cores / jobs; None: this process's cores).

    Apply with :func:`configure_threads` before TensorFlow's first op (e.g. at worker start). The
    replicas train in one group per thread (or per core), at most one per replica; inter-op
    threads: ``threads``, or one per group. An XLA loop runs each group's call on the intra-op
    pool, so it gets as many intra-op threads (one per group was fastest per CPU-second). A
    graph-mode loop (``xla: false``, the conv cores) runs its ops from the inter-op pool and splits
    each kernel over the intra-op pool: that helps a lone group (the standard model's core at R = 1,
    2 threads: 1.14x) but only adds CPU when every group has a core of its own (about a quarter more
    per step), so each group gets its share of the cores (docs/performance.md).
    ``NEURO_INTRA_THREADS`` overrides the intra-op count (for benchmarks).
    """
    groups = min(replicas, threads) if threads else default_groups(replicas)
    inter = threads or groups
    override = os.environ.get("NEURO_INTRA_THREADS", "")
    if override.isdigit() and int(override) > 0:
        return int(override), inter
    if xla:
        return inter, inter
    return max(1, (threads or cpu_cores()) // groups), inter


def split_replicas(replicas: int, groups: int) -> list[tuple[int, int]]:
    """Contiguous [start, stop) ranges of near-equal size, larger groups first."""
    groups = max(1, min(groups, replicas))
    base, extra = divmod(replicas, groups)
    bounds, start = [], 0
    for g in range(groups):
        stop = start + base + (1 if g < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds


PREDICT_ROWS = 512  # most rows per compiled prediction call
PREDICT_BYTES = 256 * 2**20  # activations of one prediction call, at most (about)
LIVE_LAYER_OUTPUTS = 8  # layer-sized tensors alive at once in a forward pass (a conv core's
                        # conv, batch-norm and activation outputs of consecutive layers)


def prediction_rows(replicas: int, in_features: int, widest_layer: int) -> int:
    """Rows per prediction call: PREDICT_ROWS, halved (to 16 at least) until a call's activations
    fit PREDICT_BYTES. Dense models keep 512; a conv core of 28 x 56 x 64 features per row at
    R = 2 gets 32 (at 512 it held about 3 GB per group while predicting)."""
    per_row = 4 * replicas * (in_features + LIVE_LAYER_OUTPUTS * widest_layer)
    rows = PREDICT_ROWS
    while rows > 16 and rows * per_row > PREDICT_BYTES:
        rows //= 2
    return rows


STEP_LIVE_OUTPUTS = 28  # widest-layer outputs per row a training step holds at its peak (measured:
                        # the standard conv core + point readout at batch 64, about 700 MB a replica)


def replica_bytes(n_weights: int, padded_rows: int, in_features: int, widest_layer: int,
                  batch_size: int = DEFAULT_BATCH_SIZE, epochs_per_call: int = 100) -> int:
    """Rough bytes one replica adds while training (float32 / int32 values).

    Weights, gradients and two Adam slots (4 copies) and the minibatch order uploaded per compiled
    call, plus the larger of a step's gathered rows with the activations it keeps for the gradient
    (STEP_LIVE_OUTPUTS widest-layer outputs per row) and a block of summary predictions
    (:func:`prediction_rows`): a group trains and predicts in turn. The data themselves are shared
    by all replicas.
    """
    weights = 4 * n_weights
    orders = epochs_per_call * padded_rows
    step = batch_size * (in_features + STEP_LIVE_OUTPUTS * widest_layer)
    predict = prediction_rows(1, in_features, widest_layer) * (in_features + LIVE_LAYER_OUTPUTS * widest_layer)
    return 4 * (weights + orders + max(step, predict))


def auto_replicas(n_reps: int, bytes_per_replica: int, budget: int) -> int:
    """How many repetitions train together: as many as fit in ``budget`` bytes, at least 1.

    When not all fit, the repetitions are spread over the fewest rounds, evenly (e.g. 25 that fit
    12 at a time train as 9 + 8 + 8, not 12 + 12 + 1).
    """
    if n_reps < 1:
        raise ValueError(f"n_reps must be >= 1, got {n_reps}")
    fit = max(1, int(budget // max(1, bytes_per_replica)))
    if fit >= n_reps:
        return n_reps
    rounds = math.ceil(n_reps / fit)
    return math.ceil(n_reps / rounds)


def available_memory() -> int:
    """Bytes of memory available to new allocations (Linux MemAvailable; 2 GiB if unknown)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 2 << 30
