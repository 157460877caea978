"""``neuro status``: the run store merged with one batched query per execution engine."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from rich.console import Console
from rich.table import Table

from msc_neuro_cli.runs.lifecycle import RunState, current_states, state_of
from msc_neuro_cli.errors import StoreError
from msc_neuro_cli.plain_table import PLAIN_FROM, plain_table
from msc_neuro_cli.runs.results import record_scores
from msc_neuro_cli.runs.search_status import mark_best_trials, print_best_trials
from msc_neuro_cli.store.run_store import RunStore, spec_card

CORRUPT = "corrupt"  # a row, not a RunState: the run's files could not be read (error names the file)

COLOURS = {RunState.FINISHED: "green", RunState.FAILED: "red", RunState.LOST: "red", RunState.RUNNING: "cyan",
           RunState.QUEUED: "blue", RunState.INTERRUPTED: "yellow", RunState.CANCELLED: "yellow",
           CORRUPT: "red"}


def collect_status(store_path: Path, experiments, regs) -> list[dict]:
    """One row per stored run (of ``experiments``, default all). A run whose files cannot be read
    is a ``corrupt`` row naming the file (its error), and the others are listed as usual.

    Reads one small file per run, its state (which keeps its spec's card and, once finished, its
    scores; see ``RunStore.read_card``), and asks each engine once for its active jobs: linear
    in the runs, no TensorFlow.
    """
    store = RunStore(store_path)
    wanted = set(experiments or [])
    runs, stored, damaged = [], {}, []
    for rid in store.run_ids():
        card = None
        try:
            state = store.read_known_state(rid)
            card = store.read_card(rid, state)
            if wanted and card["experiment"] not in wanted:
                continue
            stored[str(rid)] = state
            runs.append((rid, card))
        except StoreError as exc:
            damaged.append((rid, card or _readable_card(store, rid), exc))
    runs.sort(key=lambda item: (item[1]["experiment"], item[1]["run"]))
    states = current_states(store, [rid for rid, _ in runs], regs, stored)
    rows = []
    for rid, card in runs:
        try:
            rows.append(_row(store, rid, card, states[str(rid)]))
        except StoreError as exc:
            rows.append(_corrupt_row(rid, card, exc, {}))
    known = _experiments_by_folder(runs)
    corrupt = [_corrupt_row(rid, card, exc, known) for rid, card, exc in damaged]
    return mark_best_trials(rows + [row for row in corrupt if not wanted or row["experiment"] in wanted])


def _readable_card(store: RunStore, rid) -> dict | None:
    """A damaged run's card from its spec, if that at least is readable."""
    try:
        return spec_card(store.read_spec(rid), store.run_dir(rid) / "spec.json")
    except StoreError:
        return None


def _experiments_by_folder(runs: list[tuple]) -> dict[tuple[str, str], str]:
    """(folder, exp_name) -> experiment key, from the readable specs: a run whose own spec is
    damaged belongs to the experiment of its siblings (``{exp_name}x{run}`` in the same folder)."""
    return {(rid.folder, rid.exp_name): card["experiment"] for rid, card in runs}


def _row(store: RunStore, rid, card: dict, state: dict) -> dict:
    finished = state_of(state) == RunState.FINISHED
    # the worker keeps a finished run's scores and repetition count in its state (fast); older
    # runs have only their record and result files
    scores = state.get("scores") if finished else None
    if finished and scores is None:
        scores = record_scores(store.read_record(rid))
    reps_done = state.get("reps_done")
    if reps_done is None:
        reps_done = len(store.finished_reps(rid))
    return {"run_id": str(rid), "experiment": card["experiment"], "name": card["name"],
            "state": state_of(state).value, "epoch": state.get("epoch", 0),
            "epochs": card["epochs"], "reps_done": reps_done,
            "reps_total": card["reps"], "backend": state.get("backend"),
            "job_id": state.get("job_id"), "last_val_correlation": state.get("last_val_correlation"),
            "exit_code": state.get("exit_code"), "error": state.get("error"),
            "search": card.get("search"), **(scores or record_scores(None))}


def _corrupt_row(rid, card: dict | None, exc: StoreError, known: dict[tuple[str, str], str]) -> dict:
    """A damaged run's row: its experiment from its spec when that is readable, else from its
    siblings' specs, else the experiment name in its folder's name (``neuro status NAME`` finds it)."""
    experiment = (card or {}).get("experiment") or known.get((rid.folder, rid.exp_name), rid.exp_name)
    return {"run_id": str(rid), "experiment": experiment, "name": (card or {}).get("name") or "-",
            "state": CORRUPT, "epoch": 0, "epochs": 0, "reps_done": 0, "reps_total": 0, "backend": None,
            "job_id": None, "last_val_correlation": None, "exit_code": None, "error": str(exc),
            "search": None, **record_scores(None)}


def _number(value, missing: str = "-") -> str:
    return missing if value is None else f"{value:.3f}"


def print_status(rows: list[dict], console: Console) -> None:
    """The runs as a table: Rich's for a screenful, the plain fixed-width layout from
    ``PLAIN_FROM`` rows on (the same columns, every row); then one line per failed, lost or
    corrupt run with its error."""
    if not rows:
        console.print("no runs in the store yet (start one with `neuro run EXPERIMENT`)")
        return
    wide = console.width >= 100  # below that, backend and job are left to `status --json`
    tiered = any(row.get("test_correlation") is not None for row in rows)  # a dataset with a test tier
    headers = ["run id", "name", "state", "epoch", "reps", *(("backend", "job") if wide else ()),
               "val r", "r/ceiling", *(("test r",) if tiered else ())]
    cells = [_cells(row, wide, tiered) for row in rows]
    errors = [row for row in rows if row["state"] in (RunState.FAILED, RunState.LOST, CORRUPT) and row.get("error")]
    if len(rows) >= PLAIN_FROM:
        numbers = frozenset(range(headers.index("val r"), len(headers)))
        console.file.write(plain_table(headers, cells, numbers) +
                           "".join(f"{row['run_id']}: {row['error']}\n" for row in errors))
        console.file.flush()
    else:
        _print_rich(headers, cells, rows, console)
        for row in errors:
            console.print(f"[red]{escape(row['run_id'])}[/red]: {escape(str(row['error']))}")
    print_best_trials(rows, console)


def _cells(row: dict, wide: bool, tiered: bool) -> list[str]:
    corr = row.get("val_correlation")  # finished: median over repetitions; else the latest summary
    corr = row["last_val_correlation"] if corr is None else corr
    return [row["run_id"], row["name"], row["state"], f"{row['epoch']}/{row['epochs']}",
            f"{row['reps_done']}/{row['reps_total']}",
            *((row["backend"] or "-", str(row["job_id"] or "-")) if wide else ()), _number(corr),
            _number(row.get("fraction_of_ceiling"), ""),  # --json also has cc_norm
            *((_number(row.get("test_correlation"), ""),) if tiered else ())]


def _print_rich(headers: list[str], cells: list[list[str]], rows: list[dict], console: Console) -> None:
    table = Table(title="runs")
    for col in headers:
        if col in ("run id", "name"):  # ids and names wrap rather than being cut
            table.add_column(col, overflow="fold", min_width=11)
        elif col in ("val r", "r/ceiling", "test r"):
            table.add_column(col, no_wrap=True, justify="right")
        else:
            table.add_column(col, overflow="fold")
    state = headers.index("state")
    for row, line in zip(rows, cells):
        line = [escape(cell) for cell in line]  # names may hold "[...]": text, never Rich markup
        colour = COLOURS.get(row["state"], "white")  # str keys match the RunState members
        line[state] = f"[{colour}]{line[state]}[/{colour}]"
        table.add_row(*line)
    console.print(table)
