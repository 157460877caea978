"""One group of a run's repetitions: build its replicated model and trainer, then train it with
summaries (curves, TensorBoard events, run state), checkpoints and the stop flag.

The spec's training block becomes a :class:`TrainingConfig` through ``from_spec`` (no key is
dropped) and the trainer comes from the table in :mod:`msc_neuro_cli.engine.trainers`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from msc_neuro_cli.datasets.contract import Dataset
from msc_neuro_cli.engine import trainers
from msc_neuro_cli.engine.call_pacing import INTERRUPTED, STOP_CHECK_SECONDS
from msc_neuro_cli.metrics.correlation import mean_correlation
from msc_neuro_cli.runs.checkpoint import load_checkpoint, save_checkpoint
from msc_neuro_cli.store.run_store import RunId, RunStore


def checkpoint_seconds() -> float:
    """How often a training group saves a checkpoint (NEURO_CHECKPOINT_SECONDS, default 60)."""
    try:
        return float(os.environ.get("NEURO_CHECKPOINT_SECONDS", "60"))
    except ValueError:
        return 60.0


def neuro_threads() -> int | None:
    """NEURO_THREADS (the threads this worker may use, set by the local backend), or None."""
    threads = os.environ.get("NEURO_THREADS", "")
    return int(threads) if threads.isdigit() and int(threads) > 0 else None


def _component_specs(spec: dict):
    from msc_neuro_cli.engine.model import ComponentSpec

    return [ComponentSpec(c["component"], c["params"], c["where"]) for c in spec["model"]]


@dataclass
class Session:
    """A group of repetitions being trained together."""

    reps: list[int]
    seeds: list[int]
    entry: trainers.TrainerEntry
    layers: list
    trainer: Any
    curves: dict[int, list[dict]] = field(default_factory=dict)
    side: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # side_rows(): by tier and name
    diverged: dict[int, int] = field(default_factory=dict)  # replica -> first summary epoch with a NaN/inf loss
    seconds: float = 0.0


def build(spec: dict, data: Dataset, reps: list[int]) -> Session:
    """The replicated model of ``reps`` and the trainer the table picks for it, initialised."""
    from msc_neuro_cli.engine.model import assemble
    from msc_neuro_cli.engine.trainer import TrainingConfig
    from msc_neuro_cli.plugin_system.manager import registries

    comps = registries().components
    seeds = [spec["seeds"][i] for i in reps]
    config = TrainingConfig.from_spec(spec["training"], replica_groups=neuro_threads())
    entry = trainers.choose(spec["training"], data.is_lazy)
    layers = assemble(_component_specs(spec), data.input_dims, data.n_neurons, len(reps), comps)
    side = side_rows(data, layers)
    extra = {"side": side} if side else {}
    if data.has_test_tier and config.early_stopping:  # a validation tier of its own: early stopping watches it
        extra["held_out"] = (data.val_x, data.val_y, data.val_mask)
    trainer = entry.trainer_class()(layers, comps.losses.get(config.loss), config, seeds,
                                    data.train_x, data.train_y, data.val_x, data.val_y,
                                    data.train_mask, data.val_mask, **extra)
    trainer.initialise()
    return Session(reps, seeds, entry, layers, trainer, {j: [] for j in range(len(reps))}, side=side)


def side_rows(data: Dataset, layers) -> dict[str, dict[str, np.ndarray]]:
    """The per-trial rows the model's components read (behaviour, pupil centre), by tier:
    {"train": {"behavior": rows, ...}, "val": {...}, "test": {...}}; {} when none reads any."""
    from msc_neuro_cli.engine import side_inputs

    needs = side_inputs.required(layers)
    if not needs:
        return {}
    fields = {side_inputs.BEHAVIOR: "behavior", side_inputs.PUPIL_CENTER: "pupil"}
    side_inputs.check_available(layers, [n for n, f in fields.items() if getattr(data, f"train_{f}") is not None])
    tiers = ("train", "val", "test") if data.has_test_tier else ("train", "val")
    return {tier: {name: getattr(data, f"{tier}_{fields[name]}") for name in needs} for tier in tiers}


def replicas_per_round(spec: dict, data: Dataset, n_todo: int) -> int:
    """'auto': as many repetitions at once as fit in half the available memory, by the estimate of
    the trainer the table picks."""
    from msc_neuro_cli.engine import placement
    from msc_neuro_cli.engine.model import assemble
    from msc_neuro_cli.engine.trainer import TrainingConfig
    from msc_neuro_cli.plugin_system.manager import registries

    probe = assemble(_component_specs(spec), data.input_dims, data.n_neurons, 1, registries().components)
    size = trainers.ModelSize(n_weights=sum(int(np.prod(w.shape)) for layer in probe for w in layer.weights),
                              rows=len(data.train_x), in_features=int(data.train_x.shape[1]),
                              widest_layer=max(layer.out_features for layer in probe))
    entry = trainers.choose(spec["training"], data.is_lazy)
    per_replica = entry.trainer_class().replica_bytes(size, TrainingConfig.from_spec(spec["training"]))
    return placement.auto_replicas(n_todo, per_replica, placement.available_memory() // 2)


# ---------------------------------------------------------------------------- checkpoints
def save_group_checkpoint(trainer, path: Path, reps: list[int], curves: dict) -> None:
    state = trainer.state()
    save_checkpoint(path, state["arrays"], {
        "epoch": state["epoch"], "state": state["meta"], "reps": reps, "trainer": type(trainer).__name__,
        "curves": {str(k): v for k, v in curves.items()}})


def resume_group(trainer, path: Path, reps: list[int]) -> dict | None:
    """Load a checkpoint of this group of repetitions; return its curves so far (or None)."""
    loaded = load_checkpoint(path)
    if loaded is None:
        return None
    arrays, meta = loaded
    if meta["reps"] != reps or meta.get("trainer") not in (None, type(trainer).__name__):
        return None  # a checkpoint of another group (or trainer): start this group afresh
    print(f"resuming repetitions {reps} from the checkpoint at epoch {meta['epoch']}", flush=True)
    trainer.load_state({"epoch": meta["epoch"], "arrays": arrays, "meta": meta["state"]})
    return {int(k): v for k, v in meta["curves"].items()}


# ---------------------------------------------------------------------------- training
class _Summaries:
    """Curves and TensorBoard events of each repetition of a session, and the run's progress."""

    def __init__(self, store: RunStore, rid: RunId, spec: dict, session: Session):
        from msc_neuro_cli.runs.tracking import flat_parameters
        from msc_neuro_cli.store.events import ScalarWriter, write_hparams

        self.store, self.rid, self.session = store, rid, session
        self.writers = {}
        hparams = flat_parameters(spec["hyperparameters"])
        for j, rep in enumerate(session.reps):
            base = store.log_dir(rid, spec["name"], rep) / "summaries"
            self.writers[j] = (ScalarWriter(base / "train"), ScalarWriter(base / "test"))
            if not any(base.glob("events.out.tfevents*")):  # once per repetition, not per resume
                write_hparams(base, hparams, trial_id=str(rid))  # TensorBoard's HParams dashboard

    def add(self, summary) -> None:
        from msc_neuro_cli.store.events import CORRELATION_TAG

        early, curves = self.session.trainer.early_stopping, self.session.curves
        for j, (train_w, test_w) in self.writers.items():
            if early is not None and 0 <= early.stopped_epoch[j] < summary.epoch:
                continue  # this repetition stopped early: its curve ends there
            if j in self.session.diverged:
                continue  # diverged: it fails the run, its curve ends there
            if not np.isfinite(summary.loss[j]):
                self.session.diverged[j] = summary.epoch
                print(f"repetition {self.session.reps[j]} diverged at epoch {summary.epoch} "
                      f"(loss {summary.loss[j]})", flush=True)
                continue
            # None when not computed at this summary (training.train_correlation: final)
            train_c = (mean_correlation(summary.train_correlation[j])
                       if not np.isnan(summary.train_correlation[j]).all() else None)
            val_c = mean_correlation(summary.val_correlation[j])
            curves[j].append({"epoch": summary.epoch, "loss": float(summary.loss[j]),
                              "train_correlation": train_c, "val_correlation": val_c})
            if train_c is not None:
                train_w.scalar(CORRELATION_TAG, train_c, summary.epoch)
            train_w.scalar("loss/cost", float(summary.loss[j]), summary.epoch)
            test_w.scalar(CORRELATION_TAG, val_c, summary.epoch)
            train_w.flush()
            test_w.flush()
        vals = [c[-1]["val_correlation"] for c in curves.values() if c]
        self.store.update_state(self.rid, epoch=summary.epoch + 1,
                                last_val_correlation=float(np.median(vals)) if vals else None)

    def close(self) -> None:
        for train_w, test_w in self.writers.values():
            train_w.close()
            test_w.close()


def train(session: Session, store: RunStore, rid: RunId, spec: dict, stop_requested: Callable[[], bool],
          finish_epoch: Callable[[], bool] | None = None) -> bool:
    """Train the session (resuming its checkpoint); False when a stop request interrupted it.

    ``stop_requested`` (Ctrl-C, ``neuro cancel``) is looked at every few seconds of training
    (:mod:`msc_neuro_cli.engine.call_pacing`): at a summary or between epochs (the current epoch
    is finished when that takes a few seconds) the group checkpoints and stops; otherwise it
    abandons the epoch and writes nothing (a checkpoint of weights part of the way through an epoch
    could not be resumed bit for bit), so a rerun resumes from the last checkpoint, which is about
    NEURO_CHECKPOINT_SECONDS old at most (checkpoints are written at summaries and at epoch
    boundaries once that interval has passed). ``finish_epoch`` (the engine's
    warning before a time limit) stops too, but at the end of the current epoch, with a checkpoint.
    """
    trainer, checkpoint = session.trainer, store.checkpoint_path(rid)
    session.curves = resume_group(trainer, checkpoint, session.reps) or session.curves
    summaries = _Summaries(store, rid, spec, session)
    last_checkpoint = t0 = time.time()
    saved_epoch = trainer.epoch  # the checkpoint just loaded (or none needed yet)
    finish_epoch = finish_epoch or (lambda: False)

    def save(_epoch=None) -> None:
        nonlocal last_checkpoint, saved_epoch
        save_group_checkpoint(trainer, checkpoint, session.reps, session.curves)
        last_checkpoint, saved_epoch = time.time(), trainer.epoch

    def checkpoint_due(floor: float = 0.0) -> bool:
        return time.time() - last_checkpoint > max(checkpoint_seconds(), floor)

    def on_summary(summary) -> bool:
        summaries.add(summary)
        stop = stop_requested() or finish_epoch()
        if stop or checkpoint_due():
            save()
        return stop

    try:
        outcome = trainer.train(on_summary=on_summary, should_stop=stop_requested,
                                stop_at_epoch_end=finish_epoch,
                                # between summaries: not more often than the stop checks
                                epoch_end_wanted=lambda: checkpoint_due(STOP_CHECK_SECONDS),
                                on_epoch_end=save)
        if outcome == INTERRUPTED and not trainer.partial_epoch and trainer.epoch != saved_epoch:
            save()  # stopped between epochs: keep them (within an epoch: nothing to keep)
    finally:
        summaries.close()
    session.seconds = time.time() - t0
    return trainer.completed
