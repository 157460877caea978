"""What the cluster backends share: profile keys, writing a job script and its run list into the
store, and calling scheduler commands (always an argv list, never a shell string)."""

from __future__ import annotations

import getpass
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

from msc_neuro_cli.api import (Backend, BackendError, JobStatus, Param, RunId, Submission, memory_param, python_program,
                               worker_argv)

from .jobspec import JobSpec, check_memory, check_walltime, job_name, split_extra
from .scripts import BUILDERS, run_list

COMMAND_TIMEOUT = 120  # seconds; a scheduler command that hangs longer is reported, not waited on


def _check_extra(value: list) -> str | None:
    try:
        split_extra(value)
    except BackendError as exc:
        return str(exc)
    return None


def cluster_params(queue_key: str, queue_help: str) -> dict[str, Param]:
    return {
        "cores": Param(int, 1, "CPU cores per run", minimum=1),
        "memory": Param(str, None, "memory per run, e.g. 8G", check=check_memory),
        "gpus": Param(int, 0, "GPUs per run", minimum=0),
        queue_key: Param(str, None, queue_help),
        "walltime": Param(str, None, "wall-clock limit per run, H:MM:SS or D-HH:MM:SS", check=check_walltime),
        "max_parallel": Param(int, 0, "array throttle: runs at once (0: no limit; else --jobs)", minimum=0),
        "extra": Param(list, [], "native scheduler options, one directive each, e.g. ['-P myproject']",
                       check=_check_extra),
        "python": Param(str, None, "Python on the compute nodes that has neuro installed "
                                   "(default: the one submitting)"),
    }


class ClusterBackend(Backend):
    """Submits one job (or one array) per sweep from a generated script; subclasses add the engine."""

    dialect: ClassVar[str] = ""
    queue_key: ClassVar[str] = "queue"

    def __init__(self, name: str, profile: dict[str, Any]):
        super().__init__(name, self.resolve(name, profile))

    @classmethod
    def resolve(cls, name: str, profile: dict[str, Any]) -> dict[str, Any]:
        given = {k: v for k, v in (profile or {}).items() if k != "backend"}

        def where(key: str | None) -> str:
            return f"backend profile {name!r}" + (f", key {key!r}" if key else "")
        try:
            return resolve_params(cls.PARAMS, given, where)
        except ValueError as exc:
            raise BackendError(str(exc)) from None

    # --- the pieces subclasses provide ---------------------------------------------------
    def submit_script(self, script: Path, store: Path) -> str:
        """Submit the script with the store as working directory; return the engine's job id."""
        raise NotImplementedError

    def task_ids(self, job_id: str, tasks: int) -> list[str]:
        """The job id of each array task, in run-list order."""
        raise NotImplementedError

    def builder_options(self, settings: dict[str, Any]) -> dict[str, Any]:
        return {}

    # --- shared ----------------------------------------------------------------------------
    def worker_argv(self, store: Path, settings: dict[str, Any]) -> list[str]:
        """What every task runs, followed by its run id."""
        python = settings.get("python") or sys.executable
        return [python, "-m", "msc_neuro_cli", "worker", "--store", str(store)]

    def settings(self, submission: Submission) -> dict[str, Any]:
        merged = dict(self.profile)
        merged.update(submission.profile or {})
        return self.resolve(self.name, merged)

    def write_job(self, submission: Submission, settings: dict[str, Any]) -> tuple[JobSpec, str]:
        """Write the run list and the job script under ``STORE/job_scripts/FOLDER/EXPERIMENT/``."""
        if not submission.run_ids:
            raise BackendError("nothing to submit: no runs")
        store = Path(submission.store).resolve()
        rids = [RunId.parse(r) for r in submission.run_ids]
        entries = []
        for text, rid in zip(submission.run_ids, rids):
            try:
                out, err = (Path(p).resolve() for p in submission.log_paths[text])
            except KeyError:
                raise BackendError(f"run {text}: no log paths in the submission") from None
            out.parent.mkdir(parents=True, exist_ok=True)
            err.parent.mkdir(parents=True, exist_ok=True)
            entries.append((str(rid), str(out), str(err)))
        folder = store / "job_scripts" / safe_component(rids[0].folder) / safe_component(rids[0].exp_name)
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"{self.dialect}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
        throttle = settings["max_parallel"] or (submission.jobs if submission.jobs > 1 else 0)
        spec = JobSpec(
            name=job_name(f"neuro_{rids[0].exp_name}"), script=folder / f"{stem}.sh",
            runs_file=folder / f"{stem}.runs", sched_log=str((folder / stem).relative_to(store)),
            command=self.worker_argv(store, settings), tasks=len(rids), cores=settings["cores"],
            memory=settings["memory"], gpus=settings["gpus"], queue=settings[self.queue_key],
            walltime=settings["walltime"], max_parallel=throttle, extra=list(settings["extra"]))
        text = BUILDERS[self.dialect](spec, **self.builder_options(settings))
        spec.runs_file.write_text(run_list(entries))
        spec.script.write_text(text)
        spec.script.chmod(0o755)
        return spec, text

    def submit(self, submission: Submission) -> dict[str, str]:
        spec, _ = self.write_job(submission, self.settings(submission))
        job_id = self.submit_script(spec.script, Path(submission.store).resolve())
        ids = self.task_ids(job_id, spec.tasks) if spec.is_array else [job_id]
        return dict(zip(submission.run_ids, ids))

    @staticmethod
    def user() -> str:
        return getpass.getuser()

    @staticmethod
    def run(argv: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
        """Run a scheduler command; a missing command or a hang is a BackendError."""
        try:
            return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
        except FileNotFoundError:
            raise BackendError(f"`{argv[0]}` not found: is this machine a submit host of the "
                               "cluster (is the scheduler's client on PATH)?") from None
        except subprocess.TimeoutExpired:
            raise BackendError(f"`{' '.join(argv[:3])} ...` did not answer within {COMMAND_TIMEOUT} s") from None

    @staticmethod
    def failure(argv: list[str], proc: subprocess.CompletedProcess) -> BackendError:
        lines = (proc.stderr or proc.stdout or "").strip().splitlines()
        return BackendError(f"`{argv[0]}` exited {proc.returncode}: {lines[-1] if lines else 'no output'}")
