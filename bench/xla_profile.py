"""Where a compiled training call spends its time, by part of the model.

Runs the call under TensorFlow's profiler with XLA's per-operation trace events switched on
(``XLA_FLAGS=--xla_cpu_enable_xprof_traceme=true``, which must be set before TensorFlow starts),
then maps each traced XLA operation back to the TensorFlow op that produced it through the
optimised HLO's metadata, and sums durations by category: minibatch gather, each layer's forward
and backward pass, loss, optimiser. What no XLA operation accounts for is loop and dispatch overhead.
"""

from __future__ import annotations

import collections
import glob
import re
import shutil
import tempfile
import time

import tensorflow as tf
from tensorflow.tsl.profiler.protobuf import xplane_pb2

TRACE_FLAG = "--xla_cpu_enable_xprof_traceme=true"
_INSTR = re.compile(r"^\s*(?:ROOT\s+)?%?([\w.\-]+) = .*?op_name=\"([^\"]*)\"")


def op_names(hlo_text: str) -> dict[str, str]:
    """HLO instruction name -> TensorFlow op name it came from."""
    out = {}
    for line in hlo_text.splitlines():
        match = _INSTR.match(line)
        if match:
            out[match.group(1)] = match.group(2)
    return out


def category(op_name: str) -> str:
    backward = op_name.startswith("gradient_tape/") or "/backward/" in op_name  # custom gradients
    for part in op_name.split("/"):
        if part in ("minibatch", "optimizer", "loss"):
            return {"minibatch": "minibatch gather", "optimizer": "optimiser (Adam, constraints)",
                    "loss": "loss" + (" backward" if backward else "")}[part]
        layer = re.match(r"^(\d\d_[a-z_]+?)(?:_\d+)?$", part)
        if layer:
            return f"{layer.group(1)} {'backward' if backward else 'forward'}"
    return "other"


def profile(call, hlo_text: str) -> tuple[float, dict[str, float]]:
    """Run ``call()`` once under the profiler: (wall seconds, {category: seconds})."""
    names = op_names(hlo_text)
    logdir = tempfile.mkdtemp(prefix="neuro-xprof-")
    try:
        tf.profiler.experimental.start(logdir)
        start = time.perf_counter()
        call()
        wall = time.perf_counter() - start
        tf.profiler.experimental.stop()
        space = xplane_pb2.XSpace()
        with open(glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True)[0], "rb") as fh:
            space.ParseFromString(fh.read())
    finally:
        shutil.rmtree(logdir, ignore_errors=True)
    totals: dict[str, float] = collections.Counter()
    for plane in space.planes:
        meta = {key: value.name for key, value in plane.event_metadata.items()}
        for line in plane.lines:
            for event in line.events:
                name = meta.get(event.metadata_id, "")
                if name in names:
                    totals[category(names[name])] += event.duration_ps * 1e-12
    totals["loop, dispatch and untraced"] = max(0.0, wall - sum(totals.values()))
    return wall, dict(totals)
