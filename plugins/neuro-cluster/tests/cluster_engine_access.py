"""Engine access for the cluster backend tests: the environment written by .ci/engines/up.sh.

A module of its own (not conftest) so tests can import it under a name no other plugin uses."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ENGINES_DIR = Path(os.environ.get("NEURO_ENGINES_DIR", "/tmp/neuro-engines"))
PROBES = {"slurm": ["sinfo", "-h", "-o", "%t"], "sge": ["qstat", "-xml"]}


def engine_env() -> dict[str, str]:
    """``export K=V`` lines of ``$NEURO_ENGINES_DIR/env.sh`` (nothing when the engines never ran)."""
    env = {}
    path = ENGINES_DIR / "env.sh"
    if path.exists():
        for line in path.read_text().splitlines():
            if line.startswith("export ") and "=" in line:
                key, _, value = line[len("export "):].partition("=")
                env[key.strip()] = value.strip()
    return env


def require_engine(name: str, monkeypatch) -> None:
    """Use a running engine, or skip, unless NEURO_REQUIRE_ENGINES names it (CI): then fail."""
    for key, value in engine_env().items():
        monkeypatch.setenv(key, value)
    reason = None
    try:
        proc = subprocess.run(PROBES[name], capture_output=True, text=True, timeout=30)
        if proc.returncode != 0:
            reason = f"{name} is not running (`{' '.join(PROBES[name])}`: {proc.stderr.strip()[:200]})"
    except FileNotFoundError:
        reason = f"{name} is not installed (`{PROBES[name][0]}` not on PATH)"
    if reason:
        required = os.environ.get("NEURO_REQUIRE_ENGINES", "")
        if required in ("1", "all") or name in required.split(","):
            pytest.fail(f"{reason}; start it with `.ci/engines/up.sh {name}`")
        pytest.skip(f"{reason}; start it with `sudo .ci/engines/up.sh {name}`")
