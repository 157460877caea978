"""What every backend executes for one run: ``neuro worker --store STORE RUN_ID``.

Trains the run's unfinished repetitions together (one replicated model per group), writes
TensorBoard events, a Keras model and a result file per repetition, then the run record and the
ledger line. SIGINT/SIGTERM stop at the next summary with a checkpoint: a rerun resumes.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

import numpy as np

from msc_neuro_cli.datasets import contract as ds
from msc_neuro_cli.store import ledger
from msc_neuro_cli.errors import NeuroError, StoreError
from msc_neuro_cli.store.fsutil import atomic_write_bytes
from msc_neuro_cli.metrics.correlation import mean_correlation, summarise
from msc_neuro_cli.store.provenance import git_commit, versions
from msc_neuro_cli.metrics.scoring import score_replicas, summarise_reps
from msc_neuro_cli.store.run_store import RunId, RunStore

def _checkpoint_seconds() -> float:
    """How often a training group saves a checkpoint (NEURO_CHECKPOINT_SECONDS, default 60)."""
    try:
        return float(os.environ.get("NEURO_CHECKPOINT_SECONDS", "60"))
    except ValueError:
        return 60.0


class _StopFlag:
    def __init__(self):
        self.raised = False

    def __call__(self, signum, frame):
        self.raised = True


def load_dataset(spec: dict[str, Any]) -> ds.Dataset:
    """The run's dataset (kept for callers of the old location; see datasets.loading)."""
    from msc_neuro_cli.datasets.loading import load_dataset as load

    return load(spec["dataset"])


def _configure_threads(replicas: int) -> None:
    """Thread pools before TensorFlow's first op: NEURO_THREADS (set by the local backend to
    cores / jobs) or one per replica group."""
    from msc_neuro_cli.tfquiet import import_tensorflow

    import_tensorflow()
    from msc_neuro_cli.engine import placement

    threads = os.environ.get("NEURO_THREADS", "")
    if threads.isdigit() and int(threads) > 0:
        placement.configure_threads(int(threads), int(threads))
    else:
        placement.configure_threads(*placement.recommended_threads(replicas))


def _replicas_per_round(spec: dict, data: ds.Dataset, n_todo: int) -> int:
    """'auto': as many repetitions at once as fit in half the available memory."""
    from msc_neuro_cli.engine import placement
    from msc_neuro_cli.engine.model import ComponentSpec, assemble
    from msc_neuro_cli.engine.shuffling import batch_layout
    from msc_neuro_cli.plugin_system.manager import registries

    specs = [ComponentSpec(c["component"], c["params"], c["where"]) for c in spec["model"]]
    probe = assemble(specs, data.input_dims, data.n_neurons, 1, registries().components)
    n_weights = sum(int(np.prod(w.shape)) for layer in probe for w in layer.weights)
    widest = max(layer.out_features for layer in probe)
    tcfg = spec["training"]
    _, padded = batch_layout(len(data.train_x), tcfg["batch_size"], tcfg["partial_batch"])
    if tcfg.get("optimizer") == "lbfgs":  # full batch and a history of 2m weight vectors
        from msc_neuro_cli.engine import lbfgs
        per_replica = lbfgs.replica_bytes(n_weights, len(data.train_x), data.train_x.shape[1], widest,
                                          tcfg.get("lbfgs_memory", 10))
    else:
        per_replica = placement.replica_bytes(n_weights, padded, data.train_x.shape[1], widest, tcfg["batch_size"])
    return placement.auto_replicas(n_todo, per_replica, placement.available_memory() // 2)


def _choose_groups(todo: list[int], size: int) -> list[list[int]]:
    return [todo[i:i + size] for i in range(0, len(todo), size)]


def run_worker(store_root: Path, run_id: str) -> int:
    store = RunStore(store_root)
    rid = RunId.parse(run_id)
    spec = store.read_spec(rid)
    flag = _StopFlag()
    previous = {s: signal.signal(s, flag) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return _run(store, rid, spec, flag)
    except NeuroError as exc:
        store.update_state(rid, state="failed", error=str(exc))
        raise
    except BaseException as exc:
        store.update_state(rid, state="failed", error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run(store: RunStore, rid: RunId, spec: dict, flag: _StopFlag) -> int:
    seeds = spec["seeds"]
    done = store.finished_reps(rid)
    todo = [i for i in range(len(seeds)) if i not in done]
    started = time.time()
    store.update_state(rid, keep=("cancelled",), state="running", pid=os.getpid(), host=socket.gethostname(),
                       started=started, reps_total=len(seeds), reps_done=len(done),
                       epochs=spec["training"]["epochs"], epoch=0)
    if todo:
        _configure_threads(len(todo))
        data = load_dataset(spec)
        replicas = spec["training"]["replicas"]
        size = _replicas_per_round(spec, data, len(todo)) if replicas == "auto" else int(replicas)
        for group in _choose_groups(todo, max(1, size)):
            if not _train_group(store, rid, spec, data, group, flag):
                store.update_state(rid, keep=("cancelled",), state="interrupted")
                return 130
    _finish(store, rid, spec, started)
    return 0


def _train_group(store: RunStore, rid: RunId, spec: dict, data: ds.Dataset, reps: list[int],
                 flag: _StopFlag) -> bool:
    from msc_neuro_cli.engine.model import ComponentSpec, assemble, export_replica
    from msc_neuro_cli.store.events import CORRELATION_TAG, ScalarWriter
    from msc_neuro_cli.engine.trainer import TrainingConfig
    from msc_neuro_cli.plugin_system.manager import registries

    comps = registries().components
    seeds = [spec["seeds"][i] for i in reps]
    tcfg = spec["training"]
    threads = os.environ.get("NEURO_THREADS", "")
    config = TrainingConfig(**{k: tcfg[k] for k in (
        "epochs", "batch_size", "learning_rate", "beta1", "beta2", "epsilon", "summary_every",
        "partial_batch", "loss", "xla", "correlation_nan_mode", "optimizer", "lbfgs_memory",
        "precision", "early_stopping") if k in tcfg},
        replica_groups=int(threads) if threads.isdigit() and int(threads) > 0 else None)
    specs = [ComponentSpec(c["component"], c["params"], c["where"]) for c in spec["model"]]
    layers = assemble(specs, data.input_dims, data.n_neurons, len(reps), comps)
    trainer = _trainer_class(config, data)(layers, comps.losses.get(config.loss), config, seeds,
                                           data.train_x, data.train_y, data.val_x, data.val_y,
                                           data.train_mask, data.val_mask)
    trainer.initialise()
    checkpoint = store.checkpoint_path(rid)
    resumed_curves = _maybe_resume(trainer, checkpoint, reps)

    writers = {}
    for j, rep in enumerate(reps):
        base = store.log_dir(rid, spec["name"], rep) / "summaries"
        writers[j] = (ScalarWriter(base / "train"), ScalarWriter(base / "test"))
    curves = resumed_curves or {j: [] for j in range(len(reps))}
    last_checkpoint = time.time()
    t0 = time.time()

    def on_summary(summary) -> bool:
        nonlocal last_checkpoint
        early = trainer.early_stopping
        for j in range(len(reps)):
            if early is not None and 0 <= early.stopped_epoch[j] < summary.epoch:
                continue  # this repetition stopped early: its curve ends there
            train_c = mean_correlation(summary.train_correlation[j])
            val_c = mean_correlation(summary.val_correlation[j])
            curves[j].append({"epoch": summary.epoch, "loss": float(summary.loss[j]),
                              "train_correlation": train_c, "val_correlation": val_c})
            train_w, test_w = writers[j]
            train_w.scalar(CORRELATION_TAG, train_c, summary.epoch)
            train_w.scalar("loss/cost", float(summary.loss[j]), summary.epoch)
            test_w.scalar(CORRELATION_TAG, val_c, summary.epoch)
            train_w.flush()
            test_w.flush()
        vals = [c[-1]["val_correlation"] for c in curves.values()]
        store.update_state(rid, epoch=summary.epoch + 1, last_val_correlation=float(np.median(vals)))
        if flag.raised or time.time() - last_checkpoint > _checkpoint_seconds():
            _save_checkpoint(trainer, checkpoint, reps, curves)
            last_checkpoint = time.time()
        return flag.raised

    trainer.train(on_summary=on_summary)
    for train_w, test_w in writers.values():
        train_w.close()
        test_w.close()
    if not trainer.completed:
        return False
    seconds = time.time() - t0
    final = trainer.summary(trainer.epoch - 1, np.zeros(len(reps)))
    scored = score_replicas(data, trainer.predict(data.val_x))  # noise-ceiling scores per replica
    dataset_sha256 = data.checksum()  # once: a dataset on disk is read whole to hash it
    for j, rep in enumerate(reps):
        path = store.model_path(rid, spec["name"], rep)
        tmp = path.with_name(f".{path.stem}.tmp.keras")
        path.parent.mkdir(parents=True, exist_ok=True)
        export_replica(layers, j).save(tmp)
        os.replace(tmp, path)
        store.write_rep(rid, rep, {
            "rep": rep, "seed": seeds[j], "epochs": trainer.epoch, "seconds": seconds,
            **({"early_stopping": trainer.early_stopping.report(j, trainer.epoch)}
               if trainer.early_stopping is not None else {}),
            "replicas_trained_together": len(reps), "trainer": type(trainer).__name__,
            "dataset_sha256": dataset_sha256,
            "val_correlation": mean_correlation(final.val_correlation[j]),
            "train_correlation": mean_correlation(final.train_correlation[j]),
            "val_correlation_per_neuron": final.val_correlation[j],
            "train_correlation_per_neuron": final.train_correlation[j],
            "curve": curves[j], "model": str(path.relative_to(store.root)), **scored[j],
        })
    try:
        checkpoint.unlink()
    except FileNotFoundError:
        pass
    store.update_state(rid, reps_done=len(store.finished_reps(rid)))
    return True


def _trainer_class(config, data: ds.Dataset):
    """L-BFGS (full batch) if asked; a dataset left on disk streams; otherwise the in-memory trainer."""
    if config.optimizer == "lbfgs":
        from msc_neuro_cli.engine.lbfgs import LbfgsTrainer
        return LbfgsTrainer
    if data.is_lazy:
        from msc_neuro_cli.engine.streaming import StreamingTrainer
        return StreamingTrainer
    from msc_neuro_cli.engine.trainer import ReplicatedTrainer
    return ReplicatedTrainer


def _save_checkpoint(trainer, path: Path, reps: list[int], curves) -> None:
    import io
    import json

    state = trainer.state()
    arrays = {f"w{i}": w for i, w in enumerate(state["weights"])}
    arrays.update({f"m{i}": m for i, m in enumerate(state["optimizer"]["m"])})
    arrays.update({f"v{i}": v for i, v in enumerate(state["optimizer"]["v"])})
    arrays.update({f"n{i}": v for i, v in enumerate(state.get("non_trainable", []))})
    arrays["lr_scale"] = state["optimizer"]["lr_scale"]
    arrays.update({f"es_{k}": v for k, v in state.get("early_stopping", {}).items()})
    meta = {"epoch": state["epoch"], "step": state["optimizer"]["step"], "reps": reps,
            "count": len(state["weights"]), "non_trainable": len(state.get("non_trainable", [])), "curves": {str(k): v for k, v in curves.items()}}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def _maybe_resume(trainer, path: Path, reps: list[int]) -> dict | None:
    """Load a checkpoint of this group of repetitions; return its curves so far (or None)."""
    import json

    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            meta = json.loads(bytes(npz["meta"]).decode())
            if meta["reps"] != reps:
                return None  # a checkpoint of another group: start this group afresh
            print(f"resuming repetitions {reps} from the checkpoint at epoch {meta['epoch']}", flush=True)
            n = meta["count"]
            trainer.load_state({"epoch": meta["epoch"],
                                "weights": [npz[f"w{i}"] for i in range(n)],
                                "non_trainable": [npz[f"n{i}"] for i in range(meta.get("non_trainable", 0))],
                                "optimizer": {"m": [npz[f"m{i}"] for i in range(n)],
                                              "v": [npz[f"v{i}"] for i in range(n)],
                                              "step": meta["step"],
                                              "lr_scale": npz["lr_scale"] if "lr_scale" in npz else None},
                                "early_stopping": {k[3:]: npz[k] for k in npz.files if k.startswith("es_")}})
            return {int(k): v for k, v in meta["curves"].items()}
    except (OSError, KeyError, ValueError) as exc:
        raise StoreError(f"{path}: unreadable checkpoint ({exc}); delete it to restart the run") from None


def _finish(store: RunStore, rid: RunId, spec: dict, started: float) -> None:
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
    }
    store.write_record(rid, record)
    ledger.append(store.ledger, f"{spec['folder']}/{spec['exp']}/{spec['name']}")
    # Early stopping may end before the planned epochs: status and progress show where it did.
    store.update_state(rid, state="finished", reps_done=len(reps), epoch=max(r["epochs"] for r in ordered))
