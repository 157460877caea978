"""``training_data/experiments.txt``: one line ``{exp_folder}/{exp}x{run}/{name}`` per finished run.

Exactly the thesis pipeline's format, so its ``udata.get_experiment_entries`` keeps working: readers skip
lines starting with ``#``. Appends take an exclusive ``flock`` and write the whole line with one
``write`` on an ``O_APPEND`` descriptor, so concurrent writers (processes, or hosts sharing a file
system with working locks) never interleave or lose lines.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LEDGER_NAME = "experiments.txt"


def append(ledger: Path, entry: str, unique: bool = True) -> bool:
    """Append ``entry``; with ``unique`` skip it if already present. Returns True if written."""
    if "\n" in entry or not entry.strip():
        raise ValueError(f"ledger entry must be one non-empty line, got {entry!r}")
    ledger = Path(ledger)
    ledger.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(ledger, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if unique and entry in _lines(fd):
            return False
        # A hand-edited ledger may end without a newline: end that line first so the
        # entries never glue together.
        data = ("\n" if _ends_unterminated(fd) else "") + entry + "\n"
        data = data.encode()
        written = os.write(fd, data)
        if written != len(data):  # a short write on a full disk: say so rather than tear lines
            raise OSError(f"{ledger}: wrote {written} of {len(data)} bytes")
        os.fsync(fd)
        return True
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _ends_unterminated(fd: int) -> bool:
    size = os.lseek(fd, 0, os.SEEK_END)
    if size == 0:
        return False
    os.lseek(fd, size - 1, os.SEEK_SET)
    return os.read(fd, 1) != b"\n"


def _lines(fd: int) -> set[str]:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return set(b"".join(chunks).decode(errors="replace").splitlines())


def entries(ledger: Path) -> list[str]:
    """The ledger's entries in order, comments and blank lines skipped (as the thesis pipeline's reader)."""
    try:
        text = Path(ledger).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
