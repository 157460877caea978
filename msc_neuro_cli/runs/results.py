"""Reading the run store back: the runs of experiments, rows for ``export-metrics``, summaries."""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Iterable

from msc_neuro_cli.metrics.correlation import summarise
from msc_neuro_cli.metrics.scoring import PER_NEURON, SCORES, summarise_reps
from msc_neuro_cli.metrics.tier_scores import TIER_METRICS, summarise_test
from msc_neuro_cli.errors import StoreError
from msc_neuro_cli.store.run_store import RunId, RunStore

# per-neuron export: the neuron's noise ceilings next to its scores
NEURON_CEILINGS = ("cc_max", "oracle_jackknife", "oracle_conservative", "explainable_variance_fraction")


def selected_runs(store: RunStore, experiments: Iterable[str] | None) -> list[tuple[RunId, dict]]:
    """(run id, spec) of stored runs, filtered by experiment key (None: all)."""
    wanted = set(experiments or [])
    found = []
    for rid in store.run_ids():
        spec = store.read_spec(rid)
        if not wanted or spec["experiment"] in wanted:
            found.append((rid, spec))
    return sorted(found, key=lambda item: (item[1]["experiment"], item[1]["run"]))


def require_experiments(names: Iterable[str] | None, found: Iterable[str], store_root) -> None:
    """An experiment asked for by name that has no stored run is an error (exit 2), not an
    empty answer."""
    known = set(found)
    for name in names or []:
        if name not in known:
            raise StoreError(f"{store_root}: no runs of experiment {name!r} in the store (`neuro status` lists them)")


def metric_rows(store: RunStore, runs: list[tuple[RunId, dict]], per_neuron: bool = False) -> list[dict]:
    """One row per (experiment, run, repetition), or per neuron with ``per_neuron``."""
    rows = []
    for rid, spec in runs:
        for rep, result in sorted(store.finished_reps(rid).items()):
            base = {"experiment": spec["experiment"], "folder": spec["folder"], "exp": spec["exp"],
                    "run": spec["run"], "name": spec["name"], "rep": rep, "seed": result["seed"]}
            base.update({f"hp_{k}": _scalar(v) for k, v in spec["hyperparameters"].items()})
            if per_neuron:
                val = result["val_correlation_per_neuron"]
                train = result["train_correlation_per_neuron"]
                extra = _neuron_scores(result, len(val))
                for n, (v, t) in enumerate(zip(val, train)):
                    rows.append({**base, "neuron": n, "val_correlation": v, "train_correlation": t,
                                 **{k: column[n] for k, column in extra.items()}})
            else:
                scores = result.get("scores") or {}
                rows.append({**base, "val_correlation": result["val_correlation"],
                             "train_correlation": result["train_correlation"],
                             "epochs": result["epochs"], "seconds": result["seconds"],
                             **{k: scores.get(k) for k in SCORES},
                             **{f"test_{k}": result["test"].get(k) for k in TIER_METRICS if "test" in result}})
    return rows


def _neuron_scores(result: dict, n: int) -> dict[str, list]:
    """Per-neuron columns from the noise-ceiling scores: region, scores, ceilings (None if absent)."""
    scores = result.get("scores_per_neuron") or {}
    table = result.get("ceilings") or {}
    ceilings = table.get("per_neuron") or {}
    regions = [name for name, width in (table.get("neurons") or []) for _ in range(width)]
    out = {"region": regions if len(regions) == n else [None] * n}
    for key in PER_NEURON:
        out[key] = scores.get(key) or [None] * n
    for key in NEURON_CEILINGS:
        out[key] = ceilings.get(key) or [None] * n
    return out


def summary_rows(store: RunStore, runs: list[tuple[RunId, dict]]) -> list[dict]:
    """One row per run: median, p90 and p10 over finished repetitions of every metric."""
    rows = []
    for rid, spec in runs:
        reps = [r for _, r in sorted(store.finished_reps(rid).items())]
        row = {"experiment": spec["experiment"], "folder": spec["folder"], "exp": spec["exp"],
               "run": spec["run"], "name": spec["name"], "reps": len(reps), "reps_total": len(spec["seeds"])}
        row.update({f"hp_{k}": _scalar(v) for k, v in spec["hyperparameters"].items()})
        stats = {"val_correlation": summarise(r["val_correlation"] for r in reps),
                 "train_correlation": summarise(r["train_correlation"] for r in reps)}
        scored = summarise_reps(reps)
        stats.update({k: scored.get("scores", {}).get(k, {}) for k in SCORES})
        stats.update({f"test_{k}": v for k, v in summarise_test(reps).get("test", {}).items()})
        for metric, values in stats.items():
            for q in ("median", "p90", "p10"):
                value = values.get(q)
                row[f"{metric}_{q}"] = None if value is None or value != value else value
        ceil_means = (scored.get("ceilings") or {}).get("mean") or {}
        row.update({f"ceiling_{k}": ceil_means.get(k) for k in NEURON_CEILINGS})
        rows.append(row)
    return rows


def _scalar(value: Any) -> Any:
    return value if isinstance(value, (int, float, str, bool)) or value is None else json.dumps(value)


def to_csv(rows: list[dict]) -> str:
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def run_summaries(store: RunStore, runs: list[tuple[RunId, dict]]) -> list[dict]:
    """Median and 90th/10th percentile of final validation correlation over repetitions, per run."""
    table = []
    for rid, spec in runs:
        reps = store.finished_reps(rid)
        stats = summarise(r["val_correlation"] for r in reps.values())
        table.append({"run_id": str(rid), "name": spec["name"], "reps": f"{len(reps)}/{len(spec['seeds'])}",
                      **stats})
    return table


def record_scores(record: dict | None) -> dict:
    """A finished run's medians over repetitions: validation correlation, fraction of the noise
    ceiling (slope of r against CCmax) and CCnorm; None without a record or without repeats."""
    record = record or {}

    def median(value):
        return value.get("median") if isinstance(value, dict) else None
    return {"val_correlation": median(record.get("val_correlation")),
            "fraction_of_ceiling": median(record.get("fraction_of_ceiling")),
            "cc_norm": median((record.get("scores") or {}).get("cc_norm")),
            **{f"test_{k}": median(v) for k, v in (record.get("test") or {}).items()}}  # test tier, if any
