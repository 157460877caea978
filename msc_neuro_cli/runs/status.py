"""``neuro status``: the run store merged with one batched query per execution engine."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

from msc_neuro_cli.errors import NeuroError
from msc_neuro_cli.runs.results import effective_state, selected_runs
from msc_neuro_cli.store.run_store import RunStore

COLOURS = {"finished": "green", "failed": "red", "lost": "red", "running": "cyan", "queued": "blue",
           "interrupted": "yellow", "cancelled": "yellow"}


def current_states(store: RunStore, rids, regs) -> dict[str, dict]:
    """Each run's state merged with one batched query per engine (lost jobs detected)."""
    states = {str(rid): store.read_state(rid) for rid in rids}
    by_backend = defaultdict(list)
    plugins = {}
    for state in states.values():
        if state.get("job_id") and state.get("state") in ("queued", "running"):
            by_backend[state.get("backend")].append(state["job_id"])
            plugins[state.get("backend")] = state.get("backend_plugin")
    polled = {}
    for name, jobs in by_backend.items():
        backend_name = state_backend_class(name, regs, plugins.get(name))
        if backend_name is None:
            continue
        try:
            polled[name] = regs.backends.get(backend_name)(name, {}).poll(jobs)
        except NeuroError:
            polled[name] = None  # engine unreachable: report the store's view only
    return {rid: effective_state(state, polled.get(state.get("backend"))) for rid, state in states.items()}


def collect_status(store_path: Path, experiments, regs) -> list[dict]:
    store = RunStore(store_path)
    runs = selected_runs(store, experiments)
    states = current_states(store, [rid for rid, _ in runs], regs)
    rows = []
    for rid, spec in runs:
        state = states[str(rid)]
        record = store.read_record(rid) if state.get("state") == "finished" else None
        rows.append({"run_id": str(rid), "experiment": spec["experiment"], "name": spec["name"],
                     "state": state.get("state", "planned"), "epoch": state.get("epoch", 0),
                     "epochs": spec["training"]["epochs"], "reps_done": len(store.finished_reps(rid)),
                     "reps_total": len(spec["seeds"]), "backend": state.get("backend"),
                     "job_id": state.get("job_id"), "last_val_correlation": state.get("last_val_correlation"),
                     "exit_code": state.get("exit_code"), "error": state.get("error"),
                     **record_scores(record)})
    return rows


def record_scores(record: dict | None) -> dict:
    """A finished run's medians over repetitions: validation correlation, fraction of the noise
    ceiling (slope of r against CCmax) and CCnorm; None without a record or without repeats."""
    record = record or {}

    def median(value):
        return value.get("median") if isinstance(value, dict) else None
    return {"val_correlation": median(record.get("val_correlation")),
            "fraction_of_ceiling": median(record.get("fraction_of_ceiling")),
            "cc_norm": median((record.get("scores") or {}).get("cc_norm"))}


def state_backend_class(name: str | None, regs, plugin: str | None = None) -> str | None:
    """Backend plugin behind a run's state: recorded at submission, else a profile's backend."""
    if plugin:
        return plugin
    if name is None:
        return None
    if name in regs.backends:
        return name
    return regs.backends.profiles.get(name, {}).get("backend")


def _number(value, missing: str = "-") -> str:
    return missing if value is None else f"{value:.3f}"


def print_status(rows: list[dict], console: Console) -> None:
    if not rows:
        console.print("no runs in the store yet (start one with `neuro run EXPERIMENT`)")
        return
    table = Table(title="runs")
    wide = console.width >= 100  # below that, backend and job are left to `status --json`
    for col in ("run id", "name"):  # ids and names wrap rather than being cut
        table.add_column(col, overflow="fold", min_width=11)
    for col in ("state", "epoch", "reps") + (("backend", "job") if wide else ()):
        table.add_column(col, overflow="fold")
    for col in ("val r", "r/ceiling"):
        table.add_column(col, no_wrap=True, justify="right")
    for row in rows:
        colour = COLOURS.get(row["state"], "white")
        corr = row.get("val_correlation")  # finished: median over repetitions; else the latest summary
        corr = row["last_val_correlation"] if corr is None else corr
        where = (row["backend"] or "-", str(row["job_id"] or "-")) if wide else ()
        table.add_row(row["run_id"], row["name"], f"[{colour}]{row['state']}[/{colour}]",
                      f"{row['epoch']}/{row['epochs']}", f"{row['reps_done']}/{row['reps_total']}",
                      *where, _number(corr),
                      _number(row.get("fraction_of_ceiling"), ""))  # --json also has cc_norm
    console.print(table)
    for row in rows:
        if row["state"] in ("failed", "lost") and row.get("error"):
            console.print(f"[red]{row['run_id']}[/red]: {row['error']}")
