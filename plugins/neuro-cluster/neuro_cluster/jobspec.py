"""What one cluster submission asks for, validated before any script is written.

Values that end up in scheduler directives (``#$``, ``#PBS``, ``#SBATCH``) must survive the
scheduler's own option parser, which does not understand shell quoting: they are restricted to
characters that ``shlex.quote`` leaves alone, and anything else is refused with the key's name.
Paths in directives are relative to the run store (submission happens with the store as working
directory), so the store's own location never has to pass through a directive; the folder and
experiment names in them are encoded with ``safe_component`` when they hold other characters
(``()[]`` are valid in run ids but not in directives). Memory sizes are parsed by the core
(``msc_neuro_cli.api.memory_mib``).
"""

from __future__ import annotations

import hashlib
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from msc_neuro_cli.api import BackendError

WALLTIME = re.compile(r"^(?:(\d+)-)?(\d+):([0-5]\d):([0-5]\d)$")
JOB_NAME_BAD = re.compile(r"[^A-Za-z0-9_.-]")
SAFE_PATH = re.compile(r"^[A-Za-z0-9_.,=+-]+$")   # shlex.quote leaves it alone; no '/', '@', ':' or Slurm's '%'


def directive_value(value: object, what: str) -> str:
    """``value`` as it may appear in a directive; refuse what would need quoting."""
    text = str(value)
    if not text or shlex.quote(text) != text:
        raise BackendError(f"{what} {text!r} cannot go into a job directive "
                           "(allowed: letters, digits and @%+=:,./-)")
    return text


def walltime_hms(value: str, what: str = "walltime") -> str:
    """'HH:MM:SS' or 'D-HH:MM:SS' -> 'H:MM:SS' (hours may exceed 24), the form all three take."""
    match = WALLTIME.match(str(value).strip())
    if not match:
        raise BackendError(f"{what} {value!r} is not a duration like 2:00:00 or 1-12:00:00")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return f"{days * 24 + hours}:{minutes:02d}:{seconds:02d}"


def check_walltime(value: str | None) -> str | None:
    try:
        walltime_hms(value) if value is not None else None
    except BackendError as exc:
        return str(exc)
    return None


def check_directive(value: str | None) -> str | None:
    """A ``Param.check`` for values that go into a directive as they are (queue, pe)."""
    try:
        directive_value(value, "value") if value is not None else None
    except BackendError as exc:
        return str(exc)
    return None


def safe_component(text: str) -> str:
    """A folder or experiment name as a path component a directive can hold: itself when it
    can, else its safe characters plus a short hash, so ``a(1)`` and ``a[1]`` stay apart."""
    if SAFE_PATH.match(text):
        return text
    digest = hashlib.sha1(text.encode()).hexdigest()[:8]
    return f"{JOB_NAME_BAD.sub('_', text)}-{digest}"


def split_extra(options: list[str], what: str = "extra") -> list[list[str]]:
    """Native options, one directive each: ``["-P proj", "-l h_vmem=8G"]`` -> token lists."""
    lines = []
    for option in options or []:
        if not isinstance(option, str):
            raise BackendError(f"{what}: {option!r} is not a string")
        try:
            tokens = shlex.split(option)
        except ValueError as exc:
            raise BackendError(f"{what}: cannot split {option!r}: {exc}") from None
        if not tokens:
            continue
        lines.append([directive_value(t, f"{what} option") for t in tokens])
    return lines


def job_name(text: str) -> str:
    """A scheduler-friendly job name: starts with a letter, at most 64 safe characters."""
    name = JOB_NAME_BAD.sub("_", text)[:64]
    return name if name[:1].isalpha() else f"n{name}"[:64]


@dataclass
class JobSpec:
    """One submission: N runs as one job (N = 1) or one array (N > 1)."""

    name: str                        # job name (made safe with job_name())
    script: Path                     # absolute path of the job script
    runs_file: Path                  # absolute path of the run list next to it
    sched_log: str                   # scheduler's own stdout/stderr, relative to the store, no suffix
    command: list[str]               # worker argv without the run id (appended per task)
    tasks: int = 1
    cores: int = 1
    memory: str | None = None
    gpus: int = 0
    queue: str | None = None         # SGE/PBS queue, Slurm partition
    walltime: str | None = None
    max_parallel: int = 0            # array throttle; 0 = no limit
    extra: list[str] = field(default_factory=list)
    requeue: str | None = None       # shell line that requeues the running job (None: no requeue)
    signal_seconds: int = 0          # with requeue: warning signal this long before the time limit

    @property
    def is_array(self) -> bool:
        return self.tasks > 1
