"""``neuro status``: the run store merged with one batched query per execution engine."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from msc_neuro_cli.runs.lifecycle import RunState, current_states, state_of
from msc_neuro_cli.errors import StoreError
from msc_neuro_cli.runs.results import record_scores
from msc_neuro_cli.store.run_store import RunStore

CORRUPT = "corrupt"  # a row, not a RunState: the run's files could not be read (error names the file)

COLOURS = {RunState.FINISHED: "green", RunState.FAILED: "red", RunState.LOST: "red", RunState.RUNNING: "cyan",
           RunState.QUEUED: "blue", RunState.INTERRUPTED: "yellow", RunState.CANCELLED: "yellow",
           CORRUPT: "red"}


def collect_status(store_path: Path, experiments, regs) -> list[dict]:
    """One row per stored run. A run whose files cannot be read is a ``corrupt`` row naming the
    file (its error), and the others are listed as usual."""
    store = RunStore(store_path)
    wanted = set(experiments or [])
    runs, stored, corrupt = [], {}, []
    for rid in store.run_ids():
        try:
            spec = store.read_spec(rid)
            if wanted and spec["experiment"] not in wanted:
                continue
            stored[str(rid)] = store.read_state(rid)
            state_of(stored[str(rid)])  # an unknown state is damage too
            runs.append((rid, spec))
        except StoreError as exc:
            corrupt.append(_corrupt_row(rid, exc))
    runs.sort(key=lambda item: (item[1]["experiment"], item[1]["run"]))
    states = current_states(store, [rid for rid, _ in runs], regs, stored)
    rows = []
    for rid, spec in runs:
        try:
            rows.append(_row(store, rid, spec, states[str(rid)]))
        except StoreError as exc:
            rows.append(_corrupt_row(rid, exc))
    return rows + corrupt


def _row(store: RunStore, rid, spec: dict, state: dict) -> dict:
    finished = state_of(state) == RunState.FINISHED
    # the worker keeps a finished run's scores and repetition count in its state (fast); older
    # runs have only their record and result files
    scores = state.get("scores") if finished else None
    if finished and scores is None:
        scores = record_scores(store.read_record(rid))
    reps_done = state.get("reps_done")
    if reps_done is None:
        reps_done = len(store.finished_reps(rid))
    return {"run_id": str(rid), "experiment": spec["experiment"], "name": spec["name"],
            "state": state_of(state).value, "epoch": state.get("epoch", 0),
            "epochs": spec["training"]["epochs"], "reps_done": reps_done,
            "reps_total": len(spec["seeds"]), "backend": state.get("backend"),
            "job_id": state.get("job_id"), "last_val_correlation": state.get("last_val_correlation"),
            "exit_code": state.get("exit_code"), "error": state.get("error"),
            **(scores or record_scores(None))}


def _corrupt_row(rid, exc: StoreError) -> dict:
    return {"run_id": str(rid), "experiment": None, "name": "-", "state": CORRUPT, "epoch": 0, "epochs": 0,
            "reps_done": 0, "reps_total": 0, "backend": None, "job_id": None, "last_val_correlation": None,
            "exit_code": None, "error": str(exc), **record_scores(None)}


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
    tiered = any(row.get("test_correlation") is not None for row in rows)  # a dataset with a test tier
    for col in ("val r", "r/ceiling") + (("test r",) if tiered else ()):
        table.add_column(col, no_wrap=True, justify="right")
    for row in rows:
        colour = COLOURS.get(row["state"], "white")  # str keys match the RunState members
        corr = row.get("val_correlation")  # finished: median over repetitions; else the latest summary
        corr = row["last_val_correlation"] if corr is None else corr
        where = (row["backend"] or "-", str(row["job_id"] or "-")) if wide else ()
        table.add_row(row["run_id"], row["name"], f"[{colour}]{row['state']}[/{colour}]",
                      f"{row['epoch']}/{row['epochs']}", f"{row['reps_done']}/{row['reps_total']}",
                      *where, _number(corr),
                      _number(row.get("fraction_of_ceiling"), ""),  # --json also has cc_norm
                      *((_number(row.get("test_correlation"), ""),) if tiered else ()))
    console.print(table)
    for row in rows:
        if row["state"] in (RunState.FAILED, RunState.LOST, CORRUPT) and row.get("error"):
            console.print(f"[red]{row['run_id']}[/red]: {row['error']}")
