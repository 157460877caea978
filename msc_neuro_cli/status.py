"""``neuro status``: the run store merged with one batched query per execution engine."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

from .errors import NeuroError
from .results import effective_state, selected_runs
from .store import RunStore

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
        rows.append({"run_id": str(rid), "experiment": spec["experiment"], "name": spec["name"],
                     "state": state.get("state", "planned"), "epoch": state.get("epoch", 0),
                     "epochs": spec["training"]["epochs"], "reps_done": len(store.finished_reps(rid)),
                     "reps_total": len(spec["seeds"]), "backend": state.get("backend"),
                     "job_id": state.get("job_id"), "last_val_correlation": state.get("last_val_correlation"),
                     "exit_code": state.get("exit_code"), "error": state.get("error")})
    return rows


def state_backend_class(name: str | None, regs, plugin: str | None = None) -> str | None:
    """Backend plugin behind a run's state: recorded at submission, else a profile's backend."""
    if plugin:
        return plugin
    if name is None:
        return None
    if name in regs.backends:
        return name
    return regs.backends.profiles.get(name, {}).get("backend")


def print_status(rows: list[dict], console: Console) -> None:
    if not rows:
        console.print("no runs in the store yet (start one with `neuro run EXPERIMENT`)")
        return
    table = Table(title="runs")
    for col in ("run id", "name", "state", "epoch", "reps", "backend", "job", "val r"):
        table.add_column(col)
    for row in rows:
        colour = COLOURS.get(row["state"], "white")
        corr = row["last_val_correlation"]
        table.add_row(row["run_id"], row["name"], f"[{colour}]{row['state']}[/{colour}]",
                      f"{row['epoch']}/{row['epochs']}", f"{row['reps_done']}/{row['reps_total']}",
                      row["backend"] or "-", str(row["job_id"] or "-"), "-" if corr is None else f"{corr:.3f}")
    console.print(table)
    for row in rows:
        if row["state"] in ("failed", "lost") and row.get("error"):
            console.print(f"[red]{row['run_id']}[/red]: {row['error']}")
