"""Where a result came from: package and plugin versions, the manifest's git commit, the host."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

from msc_neuro_cli import __version__


def git_commit(path: Path | None) -> str | None:
    """HEAD of the git repository holding ``path`` (with '+dirty' when it has changes), or None."""
    if path is None:
        return None
    folder = Path(path).resolve().parent
    try:
        head = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def versions() -> dict[str, str]:
    """Versions of neuro, Python, TensorFlow, numpy and every loaded plugin (imports TensorFlow)."""
    from msc_neuro_cli.plugin_system.manager import registries
    import numpy
    import tensorflow as tf

    found = {"msc-neuro-cli": __version__, "python": platform.python_version(),
             "tensorflow": tf.__version__, "numpy": numpy.__version__}
    for info in registries().plugins:
        found[f"plugin:{info.name}"] = info.version
    return found
