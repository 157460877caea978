"""``neuro compare``: runs side by side, sorted, each tested against a reference run.

For every run: median and 90th/10th percentile of the final validation correlation over
repetitions, the fraction of the noise ceiling, training time, and a two-sided Mann-Whitney U
test of its repetitions against the reference's (default: the best run). Runs of the thesis
pipeline itself take part like any other (their final value is the last logged validation correlation).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable

import numpy as np

from msc_neuro_cli.api import StoreError

from . import stats
from .loading import Run, aliases_from_manifest, load_runs, run_order, select
from .neurons import DEFAULT_CEILING
from .summary import run_row


def compare_rows(store: Path, tokens: Iterable[str], reference: str | None = None, manifest: Path | None = None,
                 ceiling: str = DEFAULT_CEILING, sort: str = "median") -> tuple[list[dict], Run]:
    """Rows of the comparison (best first) and the reference run."""
    everything = load_runs(store)
    aliases = aliases_from_manifest(manifest)
    runs = sorted(select(everything, tokens, aliases, where=str(store)), key=run_order)
    ref = _reference(everything, runs, reference, aliases, store)
    if ref not in runs:
        runs.append(ref)  # a reference from outside the selection is shown too
    rows = [run_row(r, stats.MEDIAN_MODE, ceiling) for r in runs]
    if sort not in rows[0]:
        raise StoreError(f"--sort {sort!r} is not a column (columns: {', '.join(rows[0])})")
    order = sorted(range(len(runs)), key=lambda i: _sort_key(rows[i][sort]))
    runs, rows = [runs[i] for i in order], [rows[i] for i in order]
    ref_median = float(np.median(ref.finals()))
    for run, row in zip(runs, rows):
        u, p = (math.nan, math.nan) if run is ref else stats.mann_whitney(run.finals(), ref.finals())
        row.update({"Δ median": float(np.median(run.finals())) - ref_median, "U": u, "p vs ref": p,
                    "ref": run is ref})
    return rows, ref


def _sort_key(value) -> tuple:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return (1, 0.0)
    return (0, -value if isinstance(value, (int, float)) else str(value))


def _reference(everything: list[Run], runs: list[Run], reference: str | None, aliases, store) -> Run:
    if reference is None:  # the best run by median
        return max(runs, key=lambda r: (np.median(r.finals()), -runs.index(r)))
    hits = select(everything, [reference], aliases, where=str(store))
    if len(hits) != 1:
        raise StoreError(f"--reference {reference!r} matches {len(hits)} runs "
                         f"({', '.join(r.run_id for r in hits[:6])}); name one run, e.g. {hits[0].run_id}")
    return hits[0]


def print_table(rows: list[dict], ref: Run, console) -> None:
    from rich.table import Table

    table = Table(title=f"final validation correlation (reference: {ref.run_id})")
    columns = ["run", "name", "reps", "median", "p90", "p10", "fraction of ceiling", "train seconds",
               "Δ median", "U", "p vs ref"]
    columns += [c for c in rows[0] if c not in columns and c not in ("source", "epochs", "ref")]
    for col in columns:
        table.add_column(col, justify="left" if col in ("run", "name") else "right")
    for row in rows:
        cells = []
        for col in columns:
            value = row.get(col)
            if col == "run" and row.get("ref"):
                cells.append(f"[bold]{value}[/bold] (ref)")
            elif col == "p vs ref" and isinstance(value, float) and not math.isnan(value):
                cells.append(f"[green]{value:.3g}[/green]" if value < 0.05 else f"{value:.3g}")
            elif isinstance(value, float):
                cells.append("–" if math.isnan(value) else f"{value:.1f}" if col in ("train seconds", "U")
                             else f"{value:+.3f}" if col == "Δ median" else f"{value:.3f}")
            else:
                cells.append("" if value is None else str(value))
        table.add_row(*cells)
    console.print(table)
    console.print("p: two-sided Mann-Whitney U test of the repetitions' final correlations against the "
                  "reference's; green where p < 0.05.")
