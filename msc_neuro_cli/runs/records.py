"""What a finished training group and a finished run leave in the store: one Keras model and one
result file per repetition, then the run record and its ledger line."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from msc_neuro_cli.datasets.contract import Dataset
from msc_neuro_cli.metrics.correlation import mean_correlation, summarise
from msc_neuro_cli.metrics.scoring import score_replicas, summarise_reps
from msc_neuro_cli.metrics.tier_scores import score_test_tier, summarise_test
from msc_neuro_cli.runs.checkpoint import remove_checkpoints
from msc_neuro_cli.runs.lifecycle import RunState
from msc_neuro_cli.runs.results import record_scores
from msc_neuro_cli.runs.tracking import notify_trackers
from msc_neuro_cli.runs.training_session import Session
from msc_neuro_cli.store import ledger
from msc_neuro_cli.store.provenance import git_commit, versions
from msc_neuro_cli.store.run_store import RunId, RunStore


def _export_model(store: RunStore, rid: RunId, spec: dict, session: Session, j: int, rep: int) -> Path:
    from msc_neuro_cli.engine.model import export_replica

    path = store.model_path(rid, spec["name"], rep)
    tmp = path.with_name(f".{path.stem}.tmp.keras")
    path.parent.mkdir(parents=True, exist_ok=True)
    export_replica(session.layers, j).save(tmp)
    os.replace(tmp, path)
    return path


def _test_tier(data: Dataset, session: Session) -> list[dict] | None:
    """Each replica's scores on the test tier, once, with its final (restored best) weights."""
    if not data.has_test_tier:
        return None
    preds = session.trainer.predict(data.test_x, session.side.get("test"))
    return [score_test_tier(data.test_y, pred, data.test_image_ids) for pred in preds]


def record_group(store: RunStore, rid: RunId, spec: dict, data: Dataset, session: Session) -> None:
    """Models and result files of a trained group; its checkpoint is no longer needed."""
    trainer = session.trainer
    final = trainer.summary(trainer.epoch - 1, np.zeros(len(session.reps)))
    scored = score_replicas(data, trainer.predict(data.val_x, session.side.get("val")))  # noise-ceiling scores
    dataset_sha256 = data.checksum()  # once: a dataset on disk is read whole to hash it
    early = trainer.early_stopping
    tested = _test_tier(data, session)
    for j, rep in enumerate(session.reps):
        if j in session.diverged:
            continue  # no result: the run fails (worker), and a rerun trains it again
        path = _export_model(store, rid, spec, session, j, rep)
        store.write_rep(rid, rep, {
            "rep": rep, "seed": session.seeds[j], "epochs": trainer.epoch, "seconds": session.seconds,
            **({"early_stopping": early.report(j, trainer.epoch)} if early is not None else {}),
            "replicas_trained_together": len(session.reps), "trainer": type(trainer).__name__,
            "dataset_sha256": dataset_sha256,
            "val_correlation": mean_correlation(final.val_correlation[j]),
            "train_correlation": mean_correlation(final.train_correlation[j]),
            "val_correlation_per_neuron": final.val_correlation[j],
            "train_correlation_per_neuron": final.train_correlation[j],
            "curve": session.curves[j], "model": str(path.relative_to(store.root)), **scored[j],
            **({"test": tested[j]} if tested else {}),
        })
    remove_checkpoints(store.checkpoint_path(rid))
    store.update_state(rid, reps_done=len(store.finished_reps(rid)))


def finish_run(store: RunStore, rid: RunId, spec: dict, started: float) -> None:
    """The run record and the ledger line, once every repetition has its result file."""
    reps = store.finished_reps(rid)
    if len(reps) < len(spec["seeds"]):
        return
    ordered = [reps[i] for i in sorted(reps)]
    record = {
        "run_id": str(rid), "experiment": spec["experiment"], "folder": spec["folder"],
        "exp": spec["exp"], "run": spec["run"], "name": spec["name"],
        "hyperparameters": spec["hyperparameters"], "seeds": spec["seeds"],
        "spec_hash": spec["spec_hash"], "spec": spec,
        "versions": versions(), "manifest_commit": git_commit(spec.get("manifest") and Path(spec["manifest"])),
        "finished": time.time(), "worker_seconds": time.time() - started,
        "dataset_sha256": ordered[0].get("dataset_sha256"),
        "val_correlation": summarise(r["val_correlation"] for r in ordered),
        "train_correlation": summarise(r["train_correlation"] for r in ordered),
        "repetitions": ordered,
        **summarise_reps(ordered),  # ceilings, scores, scores_per_region, fraction_of_ceiling
        **summarise_test(ordered),  # test: scores on the test tier, when the dataset keeps one
    }
    store.write_record(rid, record)
    ledger.append(store.ledger, f"{spec['folder']}/{spec['exp']}/{spec['name']}")
    # Early stopping may end before the planned epochs: status and progress show where it did.
    # ... and its scores are kept in the state, so `neuro status` need not read every record
    store.update_state(rid, state=RunState.FINISHED, reps_done=len(reps), epoch=max(r["epochs"] for r in ordered),
                       scores=record_scores(record))
    notify_trackers(store, rid, record)  # after the run is finished: a tracker never fails it
