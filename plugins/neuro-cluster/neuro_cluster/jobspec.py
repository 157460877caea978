"""What one cluster submission asks for, validated before any script is written.

Values that end up in scheduler directives (``#$``, ``#PBS``, ``#SBATCH``) must survive the
scheduler's own option parser, which does not understand shell quoting: they are restricted to
characters that ``shlex.quote`` leaves alone, and anything else is refused with the key's name.
Paths in directives are relative to the run store (submission happens with the store as working
directory), so the store's own location never has to pass through a directive.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from msc_neuro_cli.api import BackendError

MEMORY = re.compile(r"^(\d+)\s*([KMGT])?i?B?$", re.IGNORECASE)
WALLTIME = re.compile(r"^(?:(\d+)-)?(\d+):([0-5]\d):([0-5]\d)$")
JOB_NAME_BAD = re.compile(r"[^A-Za-z0-9_.-]")


def directive_value(value: object, what: str) -> str:
    """``value`` as it may appear in a directive; refuse what would need quoting."""
    text = str(value)
    if not text or shlex.quote(text) != text:
        raise BackendError(f"{what} {text!r} cannot go into a job directive "
                           "(allowed: letters, digits and @%+=:,./-)")
    return text


def memory_mib(value: str, what: str = "memory") -> int:
    """'8G', '500M', '2T', '1048576K' (or a bare number of MiB) -> MiB."""
    match = MEMORY.match(str(value).strip())
    if not match:
        raise BackendError(f"{what} {value!r} is not a size like 500M, 8G or 1T")
    number, unit = int(match.group(1)), (match.group(2) or "M").upper()
    mib = {"K": number / 1024, "M": number, "G": number * 1024, "T": number * 1024 ** 2}[unit]
    if mib < 1:
        raise BackendError(f"{what} {value!r} is less than 1 MiB")
    return int(mib)


def check_memory(value: str | None) -> str | None:
    """A ``Param.check``: None when fine, else the problem."""
    try:
        memory_mib(value) if value is not None else None
    except BackendError as exc:
        return str(exc)
    return None


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

    @property
    def is_array(self) -> bool:
        return self.tasks > 1
