"""The worker command line every backend runs (an argv list: never a shell string).

``PROGRAM worker --store STORE RUN_ID``, where PROGRAM starts the neuro CLI: ``PYTHON -m
msc_neuro_cli`` on a machine that shares this Python (local, clusters), ``neuro`` in an image.
Cluster job scripts leave the run id off and append it per array task.
"""

from __future__ import annotations

import sys
from pathlib import Path


def python_program(python: str | None = None) -> list[str]:
    """The neuro CLI started by ``python`` (default: the Python running this one)."""
    return [python or sys.executable, "-m", "msc_neuro_cli"]


def worker_argv(store: Path | str, run_id: str | None = None, program: list[str] | None = None) -> list[str]:
    """``PROGRAM worker --store STORE [RUN_ID]`` as an argv list (``program``: :func:`python_program`)."""
    argv = [*(program or python_program()), "worker", "--store", str(store)]
    return argv if run_id is None else [*argv, run_id]
