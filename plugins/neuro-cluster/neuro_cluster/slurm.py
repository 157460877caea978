"""The ``slurm`` backend: ``sbatch --array`` per sweep, status that works without accounting."""

from __future__ import annotations

import re
from pathlib import Path

from msc_neuro_cli.api import BackendError, JobStatus, Param, memory_mib

from .base import ClusterBackend, cluster_params
from .jobspec import JobSpec, directive_value, walltime_hms
from .parse_slurm import SACCT_FIELDS, SQUEUE_FORMAT, parse_jobcomp, parse_sacct, parse_squeue

SBATCH_ID = re.compile(r"^(\d+)(?:;\S+)?$")
CONFIG_LINE = re.compile(r"^\s*(JobCompType|JobCompLoc)\s*=\s*(.*?)\s*$")


class SlurmBackend(ClusterBackend):
    """Slurm: status from ``squeue``; for jobs it no longer lists, ``sacct`` or, when accounting
    is disabled, the job-completion file (jobcomp/filetxt)."""

    description = "Slurm (sbatch --array with a throttle, --gres=gpu:N, squeue, sacct or jobcomp)"
    dialect = "slurm"
    prefix = "#SBATCH"
    task_index = 'if [ -n "${SLURM_ARRAY_TASK_ID:-}" ]; then TASK=$((SLURM_ARRAY_TASK_ID + 1)); else TASK=1; fi'
    queue_key = "partition"
    PARAMS = {**cluster_params("partition", "partition (--partition)"),
              "requeue": Param(bool, False, "requeue a run's job when it is pre-empted or reaches its "
                               "walltime (--requeue); the worker checkpoints on the warning signal and "
                               "the requeued job resumes from the checkpoint"),
              "signal_seconds": Param(int, 120, "with requeue and a walltime: seconds before the limit "
                                      "that Slurm sends the warning signal (--signal=B:USR1@N)", minimum=1)}

    def directives(self, spec: JobSpec, name: str, log: str) -> list[list[str]]:
        """One task with ``cores`` CPUs; arrays are 0-based (``--array=0-(N-1)%K``)."""
        pattern = "%A_%a" if spec.is_array else "%j"
        opts = [[f"--job-name={name}"], [f"--output={log}.{pattern}.out"], [f"--error={log}.{pattern}.err"],
                ["--ntasks=1"], [f"--cpus-per-task={int(spec.cores)}"]]
        if spec.is_array:
            throttle = f"%{int(spec.max_parallel)}" if spec.max_parallel else ""
            opts.append([f"--array=0-{spec.tasks - 1}{throttle}"])
        if spec.memory:
            opts.append([f"--mem={memory_mib(spec.memory)}M"])
        if spec.gpus:
            opts.append([f"--gres=gpu:{int(spec.gpus)}"])
        if spec.walltime:
            opts.append([f"--time={walltime_hms(spec.walltime)}"])
        if spec.queue:
            opts.append([f"--partition={directive_value(spec.queue, 'partition')}"])
        if spec.requeue:
            opts += [["--requeue"], ["--open-mode=append"]]
            if spec.walltime:
                opts.append([f"--signal=B:USR1@{int(spec.signal_seconds)}"])
        return opts

    def requeue_settings(self) -> dict:
        if not self.profile["requeue"]:
            return {}
        return {"requeue": 'scontrol requeue "$SLURM_JOB_ID"', "signal_seconds": self.profile["signal_seconds"]}

    def submit_script(self, script: Path, store: Path) -> str:
        argv = ["sbatch", "--parsable", str(script)]
        proc = self.run(argv, cwd=store)
        match = SBATCH_ID.match(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else None
        if proc.returncode != 0 or not match:
            raise self.failure(argv, proc)
        return match.group(1)

    def task_ids(self, job_id: str, tasks: int) -> list[str]:
        return [f"{job_id}_{task}" for task in range(tasks)]

    def poll(self, job_ids: list[str]) -> dict[str, JobStatus]:
        if not job_ids:
            return {}
        argv = ["squeue", "-h", "-r", "--states=all", "-u", self.user(), "-O", SQUEUE_FORMAT]
        proc = self.run(argv)
        if proc.returncode != 0:
            raise self.failure(argv, proc)
        live = parse_squeue(proc.stdout)
        found = {j: live[j] for j in job_ids if j in live}
        gone = [j for j in job_ids if j not in found]
        if gone:
            ended = self.ended(gone)
            for j in gone:
                # tasks of an array that ended before they started share one record, ARRAYJOBID
                status = ended.get(j)
                if status is None and "_" in j:
                    status = ended.get(j.split("_")[0])
                if status is not None:
                    found[j] = status
        return found  # jobs the engine has forgotten are absent (the core calls them lost)

    def ended(self, job_ids: list[str]) -> dict[str, JobStatus]:
        argv = ["sacct", "-n", "-P", "-X", "-o", SACCT_FIELDS, "-j", ",".join(job_ids)]
        proc = self.run(argv)
        if proc.returncode == 0:
            return parse_sacct(proc.stdout)
        if "accounting storage is disabled" not in (proc.stderr + proc.stdout):
            raise self.failure(argv, proc)
        path = self.jobcomp_file()
        if path is None:
            return {}
        try:
            return parse_jobcomp(path.read_text(errors="replace"))
        except FileNotFoundError:  # no job has ended since the file was configured
            return {}
        except OSError as exc:
            raise BackendError(f"cannot read Slurm's job completion file {path}: {exc.strerror}") from None

    def jobcomp_file(self) -> Path | None:
        """The jobcomp/filetxt file from ``scontrol show config`` (None with another jobcomp type)."""
        argv = ["scontrol", "show", "config"]
        proc = self.run(argv)
        if proc.returncode != 0:
            raise self.failure(argv, proc)
        config = dict(m.groups() for m in map(CONFIG_LINE.match, proc.stdout.splitlines()) if m)
        if config.get("JobCompType") != "jobcomp/filetxt" or not config.get("JobCompLoc"):
            return None
        return Path(config["JobCompLoc"])

    def cancel(self, job_ids: list[str]) -> None:
        if not job_ids:
            return
        argv = ["scancel", *job_ids]
        proc = self.run(argv)
        problems = [line for line in proc.stderr.splitlines()
                    if line.strip() and "Invalid job id" not in line and "already completing or completed" not in line]
        if proc.returncode != 0 and problems:
            raise BackendError(f"`scancel` exited {proc.returncode}: {problems[-1]}")
