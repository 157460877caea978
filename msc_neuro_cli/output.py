"""Scriptable output: tables that keep every digit when piped, stable JSON keys, and TSV."""

from __future__ import annotations

import json
import os
import re
import sys
from numbers import Integral, Real
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


def output_format(as_json: bool, as_tsv: bool) -> str:
    """``"json"``, ``"tsv"`` or ``"table"`` from a command's ``--json``/``--tsv`` flags (one at most)."""
    if as_json and as_tsv:
        from msc_neuro_cli.errors import NeuroError

        raise NeuroError("--json and --tsv cannot be combined: choose one")
    return "json" if as_json else "tsv" if as_tsv else "table"


def columns(rows: list[dict[str, Any]]) -> list[str]:
    """Every key of ``rows``, in the order they first appear (rows may differ, e.g. grid axes)."""
    return list(dict.fromkeys(key for row in rows for key in row))


# backslash first, so the escapes added after it are not escaped again
_TSV_ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"))


def _tsv_cell(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return "" if value is None else str(value).lower()
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, Real):  # repr: the shortest text that reads back as the same float
        return "" if value != value else repr(float(value))
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), default=str)
    for raw, escaped in _TSV_ESCAPES:
        text = text.replace(raw, escaped)
    return text


def tsv_text(rows: list[dict[str, Any]]) -> str:
    """``rows`` as tab-separated values (docs/output.md): a header row of their keys, then one line
    per row. Floats keep every digit, None and NaN are empty, true/false are lowercase, lists and
    mappings are compact JSON; tabs, newlines and backslashes in text are escaped (``\\t``, ``\\n``,
    ``\\\\``) so each row stays one line. No rows: nothing at all."""
    if not rows:
        return ""
    names = columns(rows)
    lines = ["\t".join(_tsv_cell(name) for name in names)]
    lines += ["\t".join(_tsv_cell(row.get(name)) for name in names) for row in rows]
    return "\n".join(lines) + "\n"
