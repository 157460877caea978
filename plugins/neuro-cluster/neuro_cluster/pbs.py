"""The ``pbs`` backend: the PBS Pro / OpenPBS dialect of the qsub backend (``#PBS``, ``-J`` arrays,
``qstat -x -t -f -F json``). Tested on captured output only: no PBS server exists for Debian."""

from __future__ import annotations

from pathlib import Path

from msc_neuro_cli.api import BackendError, JobStatus, memory_mib

from .base import ClusterBackend, cluster_params
from .jobspec import JobSpec, directive_value, walltime_hms
from .parse_pbs import parse_qstat_json, short_id
from .parsing import SchedulerOutputError

BENIGN = ("Unknown Job Id", "Job has finished", "previously deleted")


class PbsBackend(ClusterBackend):
    description = "PBS Pro / OpenPBS (qsub -J arrays, qstat -f -F json); tested on captured output only"
    dialect = "pbs"
    prefix = "#PBS"
    task_index = 'TASK="${PBS_ARRAY_INDEX:-${PBS_ARRAYID:-1}}"'
    PARAMS = cluster_params("queue", "queue (-q)")

    def directives(self, spec: JobSpec, name: str, log: str) -> list[list[str]]:
        """One chunk (``select=1``) with the cores, memory and GPUs."""
        suffix = ".^array_index^" if spec.is_array else ""
        opts = [["-N", name], ["-S", "/bin/sh"], ["-o", f"{log}.o{suffix}"], ["-e", f"{log}.e{suffix}"]]
        if spec.is_array:
            throttle = f"%{int(spec.max_parallel)}" if spec.max_parallel else ""
            opts.append(["-J", f"1-{spec.tasks}{throttle}"])
        chunk = f"select=1:ncpus={int(spec.cores)}"
        if spec.memory:
            chunk += f":mem={memory_mib(spec.memory)}mb"
        if spec.gpus:
            chunk += f":ngpus={int(spec.gpus)}"
        opts.append(["-l", chunk])
        if spec.walltime:
            opts.append(["-l", f"walltime={walltime_hms(spec.walltime)}"])
        if spec.queue:
            opts.append(["-q", directive_value(spec.queue, "queue")])
        return opts

    def submit_script(self, script: Path, store: Path) -> str:
        argv = ["qsub", str(script)]
        proc = self.run(argv, cwd=store)
        try:
            job_id = short_id(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else ""
        except SchedulerOutputError:
            job_id = ""
        if proc.returncode != 0 or not job_id:
            raise self.failure(argv, proc)
        return job_id.removesuffix("[]")

    def task_ids(self, job_id: str, tasks: int) -> list[str]:
        return [f"{job_id}[{task}]" for task in range(1, tasks + 1)]

    def poll(self, job_ids: list[str]) -> dict[str, JobStatus]:
        if not job_ids:
            return {}
        # ask for whole arrays (SEQ[]) and plain jobs; -t lists every subjob of an array
        query = sorted({j.split("[")[0] + "[]" if "[" in j else j for j in job_ids})
        argv = ["qstat", "-x", "-t", "-f", "-F", "json", *query]
        proc = self.run(argv)
        errors = [line for line in proc.stderr.splitlines() if line.strip() and not any(b in line for b in BENIGN)]
        if proc.returncode != 0 and errors:
            raise BackendError(f"`qstat` exited {proc.returncode}: {errors[-1]}")
        known = parse_qstat_json(proc.stdout)
        found = {j: known[j] for j in job_ids if j in known}
        return found  # jobs the engine has forgotten are absent (the core calls them lost)

    def cancel(self, job_ids: list[str]) -> None:
        if not job_ids:
            return
        argv = ["qdel", *job_ids]
        proc = self.run(argv)
        problems = [line for line in proc.stderr.splitlines()
                    if line.strip() and not any(b in line for b in BENIGN)]
        if proc.returncode != 0 and problems:
            raise BackendError(f"`qdel` exited {proc.returncode}: {problems[-1]}")
