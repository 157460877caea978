"""What every backend executes for one run: ``neuro worker --store STORE RUN_ID``.

Trains the run's unfinished repetitions together (one replicated model per group) in three steps
per group: build (:func:`training_session.build`: dataset, model, trainer), train
(:func:`training_session.train`: summaries, TensorBoard events, checkpoints, stop flag) and
record (:mod:`.records`: a Keras model and a result file per repetition, then the run record and
the ledger line). SIGINT/SIGTERM stop within a few seconds of training: at a summary or epoch
boundary with a checkpoint, within an epoch abandoning it (no checkpoint of that state); a rerun
resumes from the last checkpoint. SIGUSR1 in a requeue job stops at the end of the current epoch.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from pathlib import Path

from msc_neuro_cli.datasets.loading import load_dataset
from msc_neuro_cli.engine.training_schema import TRAINING
from msc_neuro_cli.errors import NeuroError
from msc_neuro_cli.runs import records, training_session
from msc_neuro_cli.runs.claim import claim_run, pause_point
from msc_neuro_cli.runs.lifecycle import RunState
from msc_neuro_cli.store.run_store import RunId, RunStore


REQUEUE_EXIT = 75  # checkpointed on the engine's warning signal: the job script requeues the job


class _StopFlag:
    def __init__(self):
        self.raised = False
        self.requeue = False  # SIGUSR1: the engine's warning before a time limit (a requeue job)
        self.now = False  # a stop that abandons the current epoch (any other signal)

    def __call__(self, signum, frame):
        self.raised = True
        # only a job whose script requeues it (NEURO_REQUEUE) stops for a requeue; else an interrupt
        warning = signum == signal.SIGUSR1 and os.environ.get("NEURO_REQUEUE") == "1"
        self.requeue = self.requeue or warning
        self.now = self.now or not warning  # Ctrl-C, neuro cancel, pre-emption: within seconds


def _configure_threads(replicas: int, xla: bool) -> None:
    """Thread pools before TensorFlow's first op, for NEURO_THREADS threads (set by the local backend
    to cores / jobs) or this machine's cores (:func:`.placement.thread_pools`)."""
    from msc_neuro_cli.tfquiet import import_tensorflow

    import_tensorflow()
    from msc_neuro_cli.engine import placement

    placement.configure_threads(*placement.thread_pools(replicas, training_session.neuro_threads(), xla))


def _choose_groups(todo: list[int], size: int) -> list[list[int]]:
    return [todo[i:i + size] for i in range(0, len(todo), size)]


def _stopped(store: RunStore, rid: RunId, flag: _StopFlag) -> int:
    """Record a stop at a checkpoint: interrupted (a rerun resumes), or queued again when the
    engine warned of a time limit and the job script requeues the job (``neuro cancel`` wins)."""
    if flag.requeue:
        print("checkpointed on the engine's warning signal: the job is requeued and resumes here",
              flush=True)
        store.update_state(rid, keep=(RunState.CANCELLED.value,), state=RunState.QUEUED,
                           error=None, pid=None)
        return REQUEUE_EXIT
    store.update_state(rid, state=RunState.INTERRUPTED)
    return 130


def run_worker(store_root: Path, run_id: str) -> int:
    store = RunStore(store_root)
    rid = RunId.parse(run_id)
    spec = store.read_spec(rid)
    claim = claim_run(store.run_dir(rid))
    if isinstance(claim, str):  # another worker trains it: leave its state, logs and events alone
        print(f"neuro worker: run {rid} is already being trained by {claim}; not starting a second "
              "worker", file=sys.stderr, flush=True)
        return 0
    pause_point("claimed")
    store.remove_temporaries(rid)  # left by a killed write; only the owner may remove them
    flag = _StopFlag()
    previous = {s: signal.signal(s, flag) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1)}
    try:
        return _run(store, rid, spec, flag)
    except NeuroError as exc:
        store.update_state(rid, state=RunState.FAILED, error=str(exc))
        raise
    except BaseException as exc:
        store.update_state(rid, state=RunState.FAILED, error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        claim.release()


def _run(store: RunStore, rid: RunId, spec: dict, flag: _StopFlag) -> int:
    seeds = spec["seeds"]
    done = store.finished_reps(rid)
    todo = [i for i in range(len(seeds)) if i not in done]
    started = time.time()
    store.update_state(rid, state=RunState.RUNNING, pid=os.getpid(), host=socket.gethostname(),
                       started=started, reps_total=len(seeds), reps_done=len(done),
                       epochs=spec["training"]["epochs"], epoch=0)
    if todo:
        _configure_threads(len(todo), bool(spec["training"].get("xla", TRAINING["xla"].default)))
        data = load_dataset(spec["dataset"])
        replicas = spec["training"]["replicas"]
        size = training_session.replicas_per_round(spec, data, len(todo)) if replicas == "auto" else int(replicas)
        diverged = []
        for group in _choose_groups(todo, max(1, size)):
            session = training_session.build(spec, data, group)
            # Ctrl-C / neuro cancel: stop within seconds; the engine's warning: at the epoch's end
            if not training_session.train(session, store, rid, spec, lambda: flag.now,
                                          finish_epoch=lambda: flag.raised):
                return _stopped(store, rid, flag)
            records.record_group(store, rid, spec, data, session)
            diverged += [f"repetition {session.reps[j]} diverged at epoch {epoch}"
                         for j, epoch in sorted(session.diverged.items())]
        if diverged:  # a NaN or infinite loss: a failure, with no record and no ledger line
            store.update_state(rid, state=RunState.FAILED, error=f"{'; '.join(diverged)} (a NaN or "
                               "infinite loss: lower training.learning_rate?)")
            return 1
    records.finish_run(store, rid, spec, started)
    return 0


