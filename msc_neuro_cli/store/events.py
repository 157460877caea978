"""TensorBoard event files with plain scalar values, as the thesis pipeline's TF1 summaries wrote them.

TF2's ``tf.summary.scalar`` stores scalars as tensors, which TF1-era readers (the thesis pipeline's
``analysis_graph``, reading ``value.simple_value``) do not see. Writing ``simple_value`` events
keeps the files readable by the thesis pipeline's reader, TensorBoard and ``EventAccumulator`` alike.
"""

from __future__ import annotations

import time
from pathlib import Path

from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.summary.writer.event_file_writer import EventFileWriter

CORRELATION_TAG = "loss/correlation/correlation"  # the thesis pipeline's tag


class ScalarWriter:
    def __init__(self, logdir: Path):
        Path(logdir).mkdir(parents=True, exist_ok=True)
        self._writer = EventFileWriter(str(logdir))

    def scalar(self, tag: str, value: float, step: int) -> None:
        summary = Summary(value=[Summary.Value(tag=tag, simple_value=float(value))])
        self._writer.add_event(Event(summary=summary, step=int(step), wall_time=time.time()))

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
