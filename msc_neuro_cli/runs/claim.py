"""One owner per run: a worker trains a run only while it holds the run's claim, and a sweep
selects runs only while it holds the store's submission lock.

Both are ``flock`` locks, taken without waiting (the claim) or while selecting (submission), so
they die with their holder: a killed worker leaves no stale claim. They also hold across cluster
nodes on a shared file system whose locks work (Linux emulates ``flock`` with NFS byte-range
locks). ``NEURO_PAUSE_AT=POINT:GATE`` holds a process at a named point while the file GATE
exists (after touching ``GATE.reached``): tests use it to keep two processes at a race window.
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path

CLAIM_FILE = ".claim.lock"
SUBMIT_FILE = ".submit.lock"


def _open_lock(path: Path) -> tuple[int, bool]:
    """A descriptor of ``path`` (created world-writable: a container's worker and the CLI may run
    as different users) and whether it is writable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except PermissionError:
        return os.open(path, os.O_RDONLY), False
    try:
        os.fchmod(fd, 0o666)
    except PermissionError:
        pass  # created by another user: it set the mode
    return fd, True


class Claim:
    """The held claim of one run (release it with :meth:`release`, or let the process end)."""

    def __init__(self, fd: int):
        self.fd = fd

    def release(self) -> None:
        if self.fd >= 0:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = -1


def claim_run(run_dir: Path) -> Claim | str:
    """Take the run's claim without waiting: a :class:`Claim`, or the holder's description
    ("pid 123 on host node1 since 12:00:01 UTC") when another process holds it."""
    path = Path(run_dir) / CLAIM_FILE
    fd, writable = _open_lock(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return _holder(path)
    if writable:
        stamp = time.strftime("%H:%M:%S UTC", time.gmtime())
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on host {socket.gethostname()} since {stamp}\n".encode(), 0)
    return Claim(fd)


def _holder(path: Path) -> str:
    try:
        text = path.read_text(errors="replace").strip()
    except OSError:
        text = ""
    return text or "another worker"


@contextmanager
def submission_lock(store_root: Path):
    """Held while a ``neuro run`` selects runs and makes them queued, so two sweeps started at
    once never both select the same run (the second waits, then sees the first one's runs)."""
    fd, _ = _open_lock(Path(store_root) / "runs" / SUBMIT_FILE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def pause_point(name: str) -> None:
    """Wait here while NEURO_PAUSE_AT names this point and its gate file exists (tests only)."""
    setting = os.environ.get("NEURO_PAUSE_AT", "")
    point, _, gate = setting.partition(":")
    if point != name or not gate:
        return
    Path(f"{gate}.reached").touch()
    deadline = time.monotonic() + 300
    while Path(gate).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
