"""``neuro compare``: runs side by side, sorted, each tested against a reference run.

For every run: median and 90th/10th percentile of the final correlation over repetitions, the
fraction of the noise ceiling, training time, and a two-sided Mann-Whitney U test of its
repetitions against the reference's (default: the best run). Runs of the thesis pipeline itself
take part like any other (their final value is the last logged validation correlation).

The final correlation is the validation tier's, or the test tier's (to the trial average, with its
single-trial correlation, FEVE and fraction of oracle) when every compared run was scored on a test
tier (``tier="auto"``, the default) or when asked for (``tier="test"``).
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


TIERS = ("auto", "validation", "test")


def compare_rows(store: Path, tokens: Iterable[str], reference: str | None = None, manifest: Path | None = None,
                 ceiling: str = DEFAULT_CEILING, sort: str = "median",
                 tier: str = "auto") -> tuple[list[dict], Run, str]:
    """Rows of the comparison (best first), the reference run and the tier compared on."""
    everything = load_runs(store)
    aliases = aliases_from_manifest(manifest)
    runs = sorted(select(everything, tokens, aliases, where=str(store)), key=run_order)
    named = _named_run(everything, reference, aliases, store) if reference is not None else None
    if named is not None and named not in runs:
        runs.append(named)  # a reference from outside the selection is shown too
    tier = _resolve_tier(tier, runs)
    ref = named if named is not None else max(runs, key=lambda r: (np.median(r.finals(tier)), -runs.index(r)))
    rows = [run_row(r, stats.MEDIAN_MODE, ceiling, tier) for r in runs]
    if sort not in rows[0]:
        raise StoreError(f"--sort {sort!r} is not a column (columns: {', '.join(rows[0])})")
    order = sorted(range(len(runs)), key=lambda i: _sort_key(rows[i][sort]))
    runs, rows = [runs[i] for i in order], [rows[i] for i in order]
    ref_median = float(np.median(ref.finals(tier)))
    for run, row in zip(runs, rows):
        u, p = (math.nan, math.nan) if run is ref else stats.mann_whitney(run.finals(tier), ref.finals(tier))
        row.update({"Δ median": float(np.median(run.finals(tier))) - ref_median, "U": u, "p vs ref": p,
                    "ref": run is ref})
    return rows, ref, tier


def _resolve_tier(tier: str, runs: list[Run]) -> str:
    """``auto``: test when every run has test-tier scores; ``test`` refuses a run without them."""
    if tier not in TIERS:
        raise StoreError(f"--tier {tier!r}: use one of {', '.join(TIERS)}")
    lacking = [r.run_id for r in runs if not r.has_test_scores]
    if tier == "auto":
        return "validation" if lacking else "test"
    if tier == "test" and lacking:
        raise StoreError(f"--tier test: {', '.join(lacking[:6])} has no test-tier scores in every "
                         f"repetition (its dataset keeps no test tier, or it ran before test scoring)")
    return tier


def _sort_key(value) -> tuple:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return (1, 0.0)
    return (0, -value if isinstance(value, (int, float)) else str(value))


def _named_run(everything: list[Run], reference: str, aliases, store) -> Run:
    hits = select(everything, [reference], aliases, where=str(store))
    if len(hits) != 1:
        raise StoreError(f"--reference {reference!r} matches {len(hits)} runs "
                         f"({', '.join(r.run_id for r in hits[:6])}); name one run, e.g. {hits[0].run_id}")
    return hits[0]


TITLES = {"validation": "final validation correlation",
          "test": "test-tier correlation to the trial average (restored weights)"}


def print_table(rows: list[dict], ref: Run, console, tier: str = "validation") -> None:
    from rich.table import Table

    table = Table(title=f"{TITLES[tier]} (reference: {ref.run_id})")
    columns = [c for c in ("run", "name", "reps", "median", "p90", "p10", "fraction of ceiling", "single-trial",
                           "FEVE", "fraction of oracle", "train seconds", "Δ median", "U", "p vs ref")
               if c in rows[0]]
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
