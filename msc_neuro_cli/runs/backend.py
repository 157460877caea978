"""The backend contract: how runs are executed (local processes, a cluster, containers).

Every backend executes the same command for a run (``runs.worker_command.worker_argv``:
``neuro worker --store STORE RUN_ID``), and the worker writes state and results into the run
store. A backend only submits, polls and cancels, and reports job status (:class:`JobStatus`);
the core records what it reports (``runs.lifecycle``). Its profile is resolved once, here, when
it is built, and recorded with each run so ``neuro status`` and ``neuro cancel`` rebuild it alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping

from msc_neuro_cli.errors import BackendError, ManifestError
from msc_neuro_cli.plugin_system.params import Param, resolve_params
from msc_neuro_cli.runs.lifecycle import TERMINAL as TERMINAL_STATES
from msc_neuro_cli.runs.lifecycle import JobStatus, RunState

__all__ = ["Backend", "JobReporter", "JobStatus", "RunState", "Submission", "TERMINAL_STATES", "memory_mib",
           "memory_param"]


class JobReporter:
    """How a blocking backend tells the core about jobs it starts and ends while ``submit``
    runs (the core records it in the store; this default, for tests, records nothing)."""

    def started(self, run_id: str, job_id: str) -> None:
        pass

    def ended(self, run_id: str, job_id: str, status: JobStatus) -> None:
        pass

    def wanted(self, run_id: str) -> bool:
        """False once the run was cancelled before its job started: do not start it."""
        return True


@dataclass
class Submission:
    """What the CLI hands a backend: the runs to execute and where they live."""

    store: Path                 # the training_data/ root
    run_ids: list[str]          # "folder/expxN"
    log_paths: dict[str, tuple[Path, Path]]  # run id -> (stdout log, stderr log)
    jobs: int = 1               # how many at once (local) / array throttle (clusters)
    wait: bool = False
    reporter: JobReporter = field(default_factory=JobReporter)


class Backend:
    """Base of execution backends. ``PARAMS`` declares profile keys (cores, memory, ...)."""

    PARAMS: ClassVar[dict[str, Param]] = {}
    description: ClassVar[str] = ""
    blocking: ClassVar[bool] = False  # True: submit() returns when every run has ended

    def __init__(self, name: str, profile: Mapping[str, Any] | None = None,
                 where: Callable[[str | None], str] | None = None):
        """``profile``: the settings as written (defaults filled in here); ``where(key)`` names
        the place a key came from in errors (a manifest's profile: then a ManifestError)."""
        self.name = name
        self.plugin_name = name
        self.profile = self.resolve_profile(name, profile, where)

    @classmethod
    def resolve_profile(cls, name: str, profile: Mapping[str, Any] | None,
                        where: Callable[[str | None], str] | None = None) -> dict[str, Any]:
        """The one place profiles are checked against ``PARAMS``; errors name the key."""
        given = {k: v for k, v in (profile or {}).items() if k != "backend"}
        error = ManifestError if where else BackendError
        where = where or (lambda key: f"backend profile {name!r}" + (f", key {key!r}" if key else ""))
        try:
            return resolve_params(cls.PARAMS, given, where)
        except ValueError as exc:
            raise error(str(exc)) from None

    def submit(self, submission: Submission) -> dict[str, str]:
        """Start the runs; return run id -> job id. Raise (BackendError) if any job could not be
        created, leaving none behind: the core then leaves the runs as they were."""
        raise NotImplementedError

    def poll(self, job_ids: list[str]) -> dict[str, JobStatus]:
        """One batched query for many jobs; unknown jobs are absent from the result."""
        return {}

    def cancel(self, job_ids: list[str]) -> None:
        raise NotImplementedError


# ------------------------------------------------------------------------- memory sizes
MEMORY = re.compile(r"^(\d+)\s*([KMGT])?i?B?$", re.IGNORECASE)
UNIT_MIB = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 ** 2}


def memory_mib(value: str | int, what: str = "memory", least: int = 1) -> int:
    """'8G', '500M', '2T', '1048576K' (a bare number: MiB) -> whole MiB; at least ``least``."""
    match = MEMORY.match(str(value).strip())
    if not match:
        raise BackendError(f"{what} {value!r} is not a size like 500M, 8G or 1T")
    mib = int(int(match.group(1)) * UNIT_MIB[(match.group(2) or "M").upper()])
    if mib < least:
        raise BackendError(f"{what} {value!r} is below the minimum of {least}M")
    return mib


def memory_param(help: str, least: int = 1) -> Param:
    """A profile key holding a memory size (None: no limit), checked with :func:`memory_mib`."""
    def check(value: str | None) -> str | None:
        try:
            memory_mib(value, least=least) if value is not None else None
        except BackendError as exc:
            return str(exc)
        return None
    return Param(str, None, help, check=check)
