"""The worker command line every backend runs (an argv list: never a shell string)."""

from __future__ import annotations

import sys
from pathlib import Path


def worker_argv(store: Path, run_id: str, python: str | None = None) -> list[str]:
    return [python or sys.executable, "-m", "msc_neuro_cli", "worker", "--store", str(store), run_id]
