"""TensorBoard event files with plain scalar values, as the thesis pipeline's TF1 summaries wrote them.

TF2's ``tf.summary.scalar`` stores scalars as tensors, which TF1-era readers (the thesis pipeline's
``analysis_graph``, reading ``value.simple_value``) do not see. Writing ``simple_value`` events
keeps the files readable by the thesis pipeline's reader, TensorBoard and ``EventAccumulator`` alike.

Each repetition's ``summaries/`` folder also gets an hparams summary (:meth:`ScalarWriter.hparams`):
the run's hyperparameters, so TensorBoard's HParams dashboard compares the runs of a grid by the
final values of the ``train`` and ``test`` scalars beside it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Mapping

from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.summary.writer.event_file_writer import EventFileWriter

CORRELATION_TAG = "loss/correlation/correlation"  # the thesis pipeline's tag
LOSS_TAG = "loss/cost"
# The scalars the HParams dashboard compares, name -> (group, tag): a group is a writer's subfolder
# of the folder holding the hparams summary (summaries/test holds the validation correlation).
HPARAMS_METRICS = {"val_correlation": ("test", CORRELATION_TAG), "train_correlation": ("train", CORRELATION_TAG),
                   "loss": ("train", LOSS_TAG)}


class ScalarWriter:
    def __init__(self, logdir: Path):
        Path(logdir).mkdir(parents=True, exist_ok=True)
        self._writer = EventFileWriter(str(logdir))

    def scalar(self, tag: str, value: float, step: int) -> None:
        summary = Summary(value=[Summary.Value(tag=tag, simple_value=float(value))])
        self._writer.add_event(Event(summary=summary, step=int(step), wall_time=time.time()))

    def hparams(self, values: dict[str, bool | int | float | str],
                metrics: Mapping[str, tuple[str, str]] = HPARAMS_METRICS, trial_id: str | None = None) -> None:
        """The hparams plugin's experiment config (these hyperparameters and metrics) and session
        start (their values), written as plain Summary protos: no TensorFlow summary writer needed."""
        from tensorboard.plugins.hparams import summary_v2 as hp

        config = hp.hparams_config_pb([hp.HParam(name) for name in sorted(values)],
                                      [hp.Metric(tag, group=group, display_name=name)
                                       for name, (group, tag) in metrics.items()])
        session = hp.hparams_pb(values, trial_id=trial_id)
        for summary in (config, session):
            self._writer.add_event(Event(summary=summary, step=0, wall_time=time.time()))

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


def write_hparams(logdir: Path, values: dict[str, bool | int | float | str], trial_id: str | None = None,
                  metrics: Mapping[str, tuple[str, str]] = HPARAMS_METRICS) -> None:
    """A repetition's hparams summary in its own event file under ``logdir`` (its ``summaries/``)."""
    writer = ScalarWriter(logdir)
    try:
        writer.hparams(values, metrics, trial_id)
    finally:
        writer.close()
