"""Scriptable output: tables that keep every digit when piped, and stable JSON keys."""

from __future__ import annotations

import os
import re
import sys
from typing import Any

from rich.console import Console


def stdout_console() -> Console:
    """A console for a command's results: the terminal's width on a terminal (or ``COLUMNS``),
    and no width limit when piped, so a table's numbers are never cut (``0.4…``)."""
    return Console(width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 100_000)


def snake_keys(row: dict[str, Any]) -> dict[str, Any]:
    """``{"Δ median": 1, "p vs ref": 2}`` -> ``{"delta_median": 1, "p_vs_ref": 2}``: the keys
    ``--json`` outputs use (docs/output.md); NaN becomes null."""
    def key(name: str) -> str:
        return re.sub(r"[^0-9a-z_]+", "_", name.replace("Δ", "delta ").lower()).strip("_")

    return {key(k): None if isinstance(v, float) and v != v else v for k, v in row.items()}
