"""The MLflow tracker: a finished neuro run becomes one MLflow run with a child run per repetition.

- experiment: the neuro experiment's key (``tiny``); run name: the run's name (``hsm_h0.5``)
- parent run: parameters (hyperparameters, training settings, dataset, model; flattened with
  dots), the run's summary metrics (medians over repetitions), the run record as an artifact
- child run per repetition (tag ``mlflow.parentRunId``): its seed, final scores, the curves
  (``val_correlation``, ``train_correlation``, ``loss`` at ``step=epoch``), the saved model and
  the TensorBoard event files as artifacts

``MLFLOW_TRACKING_URI`` chooses the tracking server or store; without it runs go to a SQLite
store in the run store (``STORE/mlflow/mlflow.db``, artifacts in ``STORE/mlflow/artifacts``).
The MLflow run ids are kept in the run's folder (``mlflow.json``), so a run is logged once;
``neuro mlflow sync`` logs finished runs the worker did not (see :mod:`neuro_mlflow.commands`).
"""

from __future__ import annotations

import fcntl
import math
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from msc_neuro_cli.api import RunId, RunStore, Tracker, atomic_write_json, flat_parameters, read_json

MARKER = "mlflow.json"
CURVES = ("val_correlation", "train_correlation", "loss")
SCORE_SUMMARY = "median"  # the run-level value of a score summarised over repetitions


def local_folder(store: RunStore) -> Path:
    return store.root / "mlflow"


def tracking_uri(store: RunStore) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{local_folder(store) / 'mlflow.db'}"


@contextmanager
def _store_lock(store: RunStore) -> Iterator[None]:
    """One worker at a time creates the local database and experiments (workers finish in parallel)."""
    folder = local_folder(store)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_parameters(record: dict[str, Any]) -> dict[str, str]:
    spec = record["spec"]
    dataset = {k: v for k, v in spec["dataset"].items() if k != "base_dir"}
    model = [{"component": c["component"], **c.get("params", {})} for c in spec["model"]]
    settings = {**record["hyperparameters"], "training": spec["training"], "dataset": dataset, "model": model,
                "repetitions": len(record["seeds"]), "seeds": record["seeds"], "spec_hash": record["spec_hash"]}
    return {k: str(v) for k, v in flat_parameters(settings).items()}


def summary_metrics(result: dict[str, Any]) -> dict[str, float]:
    """Numbers of a run record or a repetition's result: correlations, scores, ceiling fractions.

    A record summarises repetitions (``{"median": ..., "p10": ...}``): its median is logged under
    the plain name and the other summaries with a suffix (``val_correlation_p10``).
    """
    metrics: dict[str, float] = {}
    for name in ("val_correlation", "train_correlation", "fraction_of_ceiling"):
        metrics.update(_numbers(result.get(name), name))
    for name, value in (result.get("scores") or {}).items():
        metrics.update(_numbers(value, name))
    return metrics


def _numbers(value: Any, name: str) -> dict[str, float]:
    if _finite(value):
        return {name: float(value)}
    out: dict[str, float] = {}
    if isinstance(value, dict):
        for key, v in value.items():
            if key != "n":
                out.update(_numbers(v, name if key == SCORE_SUMMARY else f"{name}_{key}"))
    return out


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class MlflowTracker(Tracker):
    def run_finished(self, store: RunStore, run_id: RunId, record: dict[str, Any]) -> None:
        self.log_run(store, run_id, record)

    def log_run(self, store: RunStore, run_id: RunId, record: dict[str, Any], report: Path | None = None) -> str:
        """Log the run unless this record already is in this tracking store; attach ``report`` (a
        folder, e.g. from ``neuro report``) as the parent run's ``report/`` artifacts. Returns the
        parent run's id."""
        from mlflow import MlflowClient

        marker = store.run_dir(run_id) / MARKER
        uri = tracking_uri(store)
        client = MlflowClient(tracking_uri=uri)
        logged = read_json(marker) if marker.exists() else {}
        if logged.get("tracking_uri") == uri and logged.get("finished") == record.get("finished"):
            parent = logged["run_id"]  # this record is already in MLflow
        else:
            with _store_lock(store):
                experiment_id = self._experiment(client, store, record["experiment"])
            parent = self._parent_run(client, experiment_id, store, run_id, record)
            children = [self._repetition_run(client, experiment_id, parent, store, run_id, record, rep)
                        for rep in record["repetitions"]]
            client.set_terminated(parent)
            atomic_write_json(marker, {"tracking_uri": uri, "experiment_id": experiment_id, "run_id": parent,
                                       "repetition_run_ids": children, "finished": record.get("finished")})
        if report is not None:
            client.log_artifacts(parent, str(report), "report")
        return parent

    @staticmethod
    def _experiment(client, store: RunStore, name: str) -> str:
        found = client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        # A local store keeps its artifacts beside its database; a server decides for itself.
        local = not os.environ.get("MLFLOW_TRACKING_URI")
        location = (local_folder(store) / "artifacts").as_uri() if local else None
        return client.create_experiment(name, artifact_location=location)

    @staticmethod
    def _parent_run(client, experiment_id: str, store: RunStore, run_id: RunId, record: dict[str, Any]) -> str:
        from mlflow.entities import Metric, Param, RunTag

        tags = {"neuro.run_id": str(run_id), "neuro.spec_hash": record["spec_hash"],
                "neuro.store": str(store.root), "neuro.folder": record["folder"]}
        run = client.create_run(experiment_id, run_name=record["name"], tags=tags)
        rid, now = run.info.run_id, int(time.time() * 1000)
        client.log_batch(rid, params=[Param(k, v) for k, v in run_parameters(record).items()],
                         metrics=[Metric(k, v, now, 0) for k, v in summary_metrics(record).items()],
                         tags=[RunTag("neuro.experiment", record["experiment"])])
        client.log_dict(rid, record, "record.json")
        return rid

    @staticmethod
    def _repetition_run(client, experiment_id: str, parent: str, store: RunStore, run_id: RunId,
                        record: dict[str, Any], rep: dict[str, Any]) -> str:
        from mlflow.entities import Metric, Param
        from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

        name = f"{record['name']}__{rep['rep']}"
        run = client.create_run(experiment_id, run_name=name,
                                tags={MLFLOW_PARENT_RUN_ID: parent, "neuro.run_id": str(run_id),
                                      "neuro.rep": str(rep["rep"])})
        rid, now = run.info.run_id, int(time.time() * 1000)
        curves = [Metric(key, float(point[key]), now, int(point["epoch"]))
                  for point in rep.get("curve", []) for key in CURVES if _finite(point.get(key))]
        # The final evaluation at step=epochs, so it is each metric's latest value.
        finals = [Metric(k, v, now, int(rep["epochs"])) for k, v in summary_metrics(rep).items()]
        client.log_batch(rid, params=[Param(k, str(rep[k])) for k in ("rep", "seed", "epochs")])
        metrics = curves + finals
        for start in range(0, len(metrics), 1000):  # MLflow takes at most 1000 metrics a batch
            client.log_batch(rid, metrics=metrics[start:start + 1000])
        model = store.root / rep["model"]
        if model.exists():
            client.log_artifact(rid, str(model), "model")
        events = store.log_dir(run_id, record["name"], rep["rep"])
        if events.is_dir():
            client.log_artifacts(rid, str(events), "tensorboard")
        client.set_terminated(rid)
        return rid
