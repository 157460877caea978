"""How long each compiled training call runs, so a stop request is seen within seconds.

The compiled loop (:meth:`.replica_group.ReplicaGroup._run_chunk`) runs any range of steps of the
flattened (epoch, batch) sequence, and a range split over several calls computes exactly what one
call does. Only how often Python gets control back depends on the split: :class:`CallPace` sizes
each call to take about ``STOP_CHECK_SECONDS`` (a speed option, ``TrainingConfig.stop_check_seconds``:
results do not depend on it), and the trainer asks its ``should_stop`` hook between calls. A
200-second epoch thus stops within seconds of Ctrl-C or ``neuro cancel``; the HSM's 100-epoch
chunks, which take well under a second, still run in one call each.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np

MAX_EPOCHS_PER_CALL = 100  # epochs per stretch: bounds the host->device upload of row orders
STOP_CHECK_SECONDS = 2.0  # wall time of one compiled call, about
GROWTH = 16  # most by which one call may outgrow the last: a short call's time is mostly overhead
FINISHED, INTERRUPTED = "finished", "interrupted"  # what a trainer's train() returns


def never() -> bool:
    return False


@dataclass
class TrainingHooks:
    """What the trainer asks and tells its caller between compiled calls.

    ``should_stop``: True stops training before the next call; within an epoch, the rest of the
    epoch is run first when the pace says it takes at most ``seconds``, else the partial epoch is
    abandoned (``partial_epoch``). ``stop_at_epoch_end``: True stops at the next epoch boundary (the call ends there).
    ``epoch_end_wanted``: True asks the trainer to end its next call at the coming
    epoch boundary and report that boundary to ``on_epoch_end(epochs_done)`` (e.g. to checkpoint:
    state there is an epoch boundary's). ``on_progress(epochs_done)``: after every call that
    completed an epoch.
    """

    should_stop: Callable[[], bool] = never
    stop_at_epoch_end: Callable[[], bool] = never
    epoch_end_wanted: Callable[[], bool] = never
    on_epoch_end: Callable[[int], None] | None = None
    on_progress: Callable[[int], None] | None = None

    def stop(self, at_epoch_boundary: bool) -> bool:
        """Whether to stop before the next call."""
        return self.should_stop() or (at_epoch_boundary and self.stop_at_epoch_end())

    def cut_at_epoch_end(self) -> bool:
        """Whether the next call must end at the coming epoch boundary."""
        return self.stop_at_epoch_end() or self.epoch_end_wanted()

    def epoch_ended(self, epochs_done: int) -> None:
        """An epoch boundary inside a stretch of training (not a summary mark)."""
        if self.on_epoch_end is not None and self.epoch_end_wanted():
            self.on_epoch_end(epochs_done)

    def progressed(self, epochs_done: int) -> None:
        if self.on_progress is not None:
            self.on_progress(epochs_done)


class CallPace:
    """Steps per call from the seconds per step the last call took: the first call runs one step
    (it also compiles), the next ones about ``seconds`` each, growing at most GROWTH times a call."""

    def __init__(self, seconds: float | None = None):
        self.seconds = STOP_CHECK_SECONDS if seconds is None else float(seconds)
        self.per_step: float | None = None
        self.last_steps = 0

    def steps(self, left: int) -> int:
        """Steps of the next call, 1 to ``left``."""
        if math.isinf(self.seconds):
            return left  # never split (no stop checks within a stretch)
        if self.per_step is None:
            return 1
        wanted = left if self.per_step <= 0 else int(self.seconds / self.per_step)
        return max(1, min(wanted, self.last_steps * GROWTH, left))

    def within(self, steps: int) -> bool:
        """Whether ``steps`` steps take at most ``seconds``, by the last call's pace."""
        return self.per_step is not None and self.per_step * steps <= self.seconds

    def timed(self, steps: int, call: Callable):
        """Run ``call`` (``steps`` steps) and record its pace; its result."""
        start = time.perf_counter()
        out = call()
        self.per_step = (time.perf_counter() - start) / steps
        self.last_steps = steps
        return out


# ---------------------------------------------------------------- the trainers' loops
def train_steps_until(trainer, end: int, hooks: TrainingHooks) -> np.ndarray | None:
    """The in-memory trainer's ``_train_until``: epochs [trainer.epoch, end) in compiled calls of
    about ``stop_check_seconds`` each, asking ``hooks`` between calls. The last epoch's loss (R,),
    or None when a stop request interrupted: at an epoch boundary when the current epoch would end
    within ``stop_check_seconds``, else within it (``partial_epoch``)."""
    nb = trainer.batches
    while trainer.epoch < end:
        first_epoch, n = trainer.epoch, min(end - trainer.epoch, MAX_EPOCHS_PER_CALL)
        orders, sums = trainer._orders(first_epoch, n), [None] * len(trainer.groups)
        done, total = 0, n * nb
        while done < total:
            rest = nb - done % nb  # steps to the next epoch boundary
            if hooks.stop(at_epoch_boundary=rest == nb):
                if rest == nb or not trainer._pace.within(rest):
                    trainer.partial_epoch = rest != nb  # abandon the epoch
                    return None
                steps = rest  # the epoch ends within seconds: finish it, stop at its end
            else:
                left = min(total - done, rest) if hooks.cut_at_epoch_end() else total - done
                steps = trainer._pace.steps(left)
            outs = trainer._pace.timed(steps, partial(trainer._call, orders, done, done + steps, sums))
            sums = [out[0] for out in outs]
            done += steps
            if first_epoch + done // nb > trainer.epoch:
                trainer.epoch = first_epoch + done // nb
                hooks.progressed(trainer.epoch)
                if done % nb == 0 and trainer.epoch < end:
                    hooks.epoch_ended(trainer.epoch)
    return np.concatenate([out[1].numpy() for out in outs])


def train_epochs_until(trainer, end: int, hooks: TrainingHooks) -> np.ndarray | None:
    """``_train_until`` of trainers that run an epoch at a time (``_run``; L-BFGS, streaming from
    disk): stop checks between epochs, and within one where ``_run`` asks ``should_stop`` (the
    streaming trainer, between blocks; it returns None when it abandoned the epoch)."""
    loss = None
    while trainer.epoch < end:
        if hooks.stop(at_epoch_boundary=True):
            return None
        loss = trainer._run(trainer.epoch, 1, should_stop=hooks.should_stop)
        if loss is None:
            trainer.partial_epoch = True
            return None
        trainer.epoch += 1
        hooks.progressed(trainer.epoch)
        if trainer.epoch < end:
            hooks.epoch_ended(trainer.epoch)
    return loss
