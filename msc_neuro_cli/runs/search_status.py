"""The best trial of each search in ``neuro status`` (and its ``--json``): each stored trial's
row carries its spec's ``search`` block with its metric value and whether it is the best so far."""

from __future__ import annotations

import math

from rich.console import Console

from msc_neuro_cli.runs.lifecycle import RunState
from msc_neuro_cli.spec.search_space import better, params_text


def _value(row: dict, metric: str) -> float | None:
    value = row.get(metric) if row.get("state") == RunState.FINISHED.value else None
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def mark_best_trials(rows: list[dict]) -> list[dict]:
    """Give each search trial's row ``search.value`` (its metric, finished runs only) and
    ``search.best`` (true for the best finished trial of its experiment); other rows keep
    ``search: null``. Returns ``rows``."""
    best: dict[str, dict] = {}
    for row in rows:
        search = row.get("search")
        if not search:
            row["search"] = None
            continue
        value = _value(row, search["metric"])
        row["search"] = {**search, "value": value, "best": False}
        leader = best.get(row["experiment"])
        if value is not None and (leader is None or better(value, leader["search"]["value"], search["direction"])):
            best[row["experiment"]] = row
    for row in best.values():
        row["search"]["best"] = True
    return rows


def print_best_trials(rows: list[dict], console: Console) -> None:
    """One line per search with a finished trial: the best one, its metric and parameters."""
    for row in rows:
        search = row.get("search")
        if search and search.get("best"):
            done = sum(1 for r in rows if r.get("experiment") == row["experiment"] and (r.get("search") or {})
                       .get("value") is not None)
            console.print(f"best trial of {row['experiment']} ({done} finished): trial {search['trial']} "
                          f"({row['run_id']}), {search['metric']} {search['value']:.4f}: {params_text(search['parameters'])}", highlight=False)
