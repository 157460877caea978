"""The backend contract: how runs are executed (local processes, a cluster, containers).

Every backend executes the same command for a run, ``neuro worker --store STORE RUN_ID``, and the
worker writes state and results into the run store. A backend only submits, polls and cancels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from msc_neuro_cli.plugin_system.params import Param


@dataclass
class Submission:
    """What the CLI hands a backend: the runs to execute and where they live."""

    store: Path                 # the training_data/ root
    run_ids: list[str]          # "folder/expxN"
    log_paths: dict[str, tuple[Path, Path]]  # run id -> (stdout log, stderr log)
    profile: dict[str, Any] = field(default_factory=dict)  # resources of the chosen profile
    jobs: int = 1               # how many at once (local) / array throttle (clusters)
    wait: bool = False


@dataclass
class JobStatus:
    state: str                  # queued, running, finished, failed, cancelled, lost
    exit_code: int | None = None
    detail: str = ""


class Backend:
    """Base of execution backends. ``PARAMS`` declares profile keys (cores, memory, ...)."""

    PARAMS: ClassVar[dict[str, Param]] = {}
    description: ClassVar[str] = ""
    blocking: ClassVar[bool] = False  # True: submit() returns when every run has ended

    def __init__(self, name: str, profile: dict[str, Any]):
        self.name = name
        self.profile = profile

    def submit(self, submission: Submission) -> dict[str, str]:
        """Start the runs; return run id -> job id."""
        raise NotImplementedError

    def poll(self, job_ids: list[str]) -> dict[str, JobStatus]:
        """One batched query for many jobs; unknown jobs are absent from the result."""
        return {}

    def cancel(self, job_ids: list[str]) -> None:
        raise NotImplementedError
