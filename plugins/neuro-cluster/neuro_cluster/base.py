"""What the cluster backends share: profile keys, writing a job script and its run list into the
store, and calling scheduler commands (always an argv list, never a shell string).

Each dialect (``SgeBackend``, ``PbsBackend``, ``SlurmBackend``) is one subclass that owns its
directives, how a task learns its array index, submission and status (with its parser module)."""

from __future__ import annotations

import getpass
import secrets
import subprocess
import time
from pathlib import Path
from typing import ClassVar

from msc_neuro_cli.api import (Backend, BackendError, JobStatus, Param, RunId, Submission, memory_param, python_program,
                               worker_argv)

from .jobspec import JobSpec, check_directive, check_walltime, job_name, safe_component, split_extra
from .scripts import checked, job_script, run_list

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
        "memory": memory_param("memory per run, e.g. 8G"),
        "gpus": Param(int, 0, "GPUs per run", minimum=0),
        queue_key: Param(str, None, queue_help, check=check_directive),
        "walltime": Param(str, None, "wall-clock limit per run, H:MM:SS or D-HH:MM:SS", check=check_walltime),
        "max_parallel": Param(int, 0, "array throttle: runs at once (0: no limit; else --jobs)", minimum=0),
        "extra": Param(list, [], "native scheduler options, one directive each, e.g. ['-P myproject']",
                       check=_check_extra),
        "python": Param(str, None, "Python on the compute nodes that has neuro installed "
                                   "(default: the one submitting)"),
    }


class ClusterBackend(Backend):
    """Submits one job (or one array) per sweep from a generated script; subclasses add the engine."""

    dialect: ClassVar[str] = ""       # file name stem of its job scripts
    prefix: ClassVar[str] = ""        # directive prefix: "#$", "#PBS", "#SBATCH"
    task_index: ClassVar[str] = ""    # shell lines setting TASK, the 1-based line of the run list
    queue_key: ClassVar[str] = "queue"

    # --- the pieces subclasses provide ---------------------------------------------------
    def directives(self, spec: JobSpec, name: str, log: str) -> list[list[str]]:
        """The dialect's directives (before the profile's ``extra``), one token list each."""
        raise NotImplementedError

    def submit_script(self, script: Path, store: Path) -> str:
        """Submit the script with the store as working directory; return the engine's job id."""
        raise NotImplementedError

    def task_ids(self, job_id: str, tasks: int) -> list[str]:
        """The job id of each array task, in run-list order."""
        raise NotImplementedError

    def poll(self, job_ids: list[str]) -> dict[str, JobStatus]:
        raise NotImplementedError

    # --- shared ----------------------------------------------------------------------------
    def script(self, spec: JobSpec) -> str:
        """The job script of ``spec`` in this dialect (pure text)."""
        name, log = checked(spec)
        return job_script(self.prefix, self.directives(spec, name, log), spec, self.task_index)

    def requeue_settings(self) -> dict:
        """JobSpec's requeue fields from the profile (dialects that can requeue override this)."""
        return {}

    def worker_command(self, store: Path) -> list[str]:
        """What every task runs, followed by its run id."""
        return worker_argv(store, program=python_program(self.profile["python"]))

    def write_job(self, submission: Submission) -> tuple[JobSpec, str]:
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
        settings = self.profile
        throttle = settings["max_parallel"] or (submission.jobs if submission.jobs > 1 else 0)
        spec = JobSpec(
            name=job_name(f"neuro_{rids[0].exp_name}"), script=folder / f"{stem}.sh",
            runs_file=folder / f"{stem}.runs", sched_log=str((folder / stem).relative_to(store)),
            command=self.worker_command(store), tasks=len(rids), cores=settings["cores"],
            memory=settings["memory"], gpus=settings["gpus"], queue=settings[self.queue_key],
            walltime=settings["walltime"], max_parallel=throttle, extra=list(settings["extra"]),
            **self.requeue_settings())
        text = self.script(spec)
        spec.runs_file.write_text(run_list(entries))
        spec.script.write_text(text)
        spec.script.chmod(0o755)
        return spec, text

    def submit(self, submission: Submission) -> dict[str, str]:
        spec, _ = self.write_job(submission)
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
