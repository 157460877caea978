"""The ``qsub`` backend for Sun/Son of Grid Engine (the thesis pipeline's cluster): ``#$``
directives, ``qsub -t`` arrays, status from ``qstat -xml`` then ``qacct -j`` (parse_sge)."""

from __future__ import annotations

import re
from pathlib import Path

from msc_neuro_cli.api import BackendError, JobStatus, Param, memory_mib

from .base import ClusterBackend, cluster_params
from .jobspec import JobSpec, check_directive, directive_value, walltime_hms
from .parse_sge import parse_qacct, parse_qstat_xml

QSUB_ID = re.compile(r"^(\d+)(?:\.\d+-\d+:\d+)?$")


class SgeBackend(ClusterBackend):
    """Grid Engine: one ``qsub -t`` array per sweep, status from ``qstat -xml`` then ``qacct -j``."""

    description = "Sun/Son of Grid Engine (qsub, job arrays with -t/-tc, qstat -xml, qacct)"
    dialect = "sge"
    prefix = "#$"
    task_index = 'TASK="${SGE_TASK_ID:-undefined}"\n[ "$TASK" = undefined ] && TASK=1'
    PARAMS = {**cluster_params("queue", "queue (-q), e.g. cpu.q"),
              "pe": Param(str, "smp", "parallel environment for cores > 1 (-pe PE N)", check=check_directive)}

    def directives(self, spec: JobSpec, name: str, log: str) -> list[list[str]]:
        """Submitted with the store as working directory (``-cwd``)."""
        suffix = ".$TASK_ID" if spec.is_array else ""
        opts = [["-N", name], ["-S", "/bin/sh"], ["-cwd"],
                ["-o", f"{log}.o$JOB_ID{suffix}"], ["-e", f"{log}.e$JOB_ID{suffix}"]]
        if spec.is_array:
            opts.append(["-t", f"1-{spec.tasks}"])
            if spec.max_parallel:
                opts.append(["-tc", str(int(spec.max_parallel))])
        if spec.cores > 1:
            opts.append(["-pe", directive_value(self.profile["pe"], "pe"), str(int(spec.cores))])
        if spec.memory:
            opts.append(["-l", f"mem_free={memory_mib(spec.memory)}M"])
        if spec.gpus:
            opts.append(["-l", f"gpu={int(spec.gpus)}"])
        if spec.walltime:
            opts.append(["-l", f"h_rt={walltime_hms(spec.walltime)}"])
        if spec.queue:
            opts.append(["-q", directive_value(spec.queue, "queue")])
        return opts

    def submit_script(self, script: Path, store: Path) -> str:
        argv = ["qsub", "-terse", str(script)]
        proc = self.run(argv, cwd=store)
        match = QSUB_ID.match(proc.stdout.strip().splitlines()[0]) if proc.stdout.strip() else None
        if proc.returncode != 0 or not match:
            raise self.failure(argv, proc)
        return match.group(1)

    def task_ids(self, job_id: str, tasks: int) -> list[str]:
        return [f"{job_id}.{task}" for task in range(1, tasks + 1)]

    def poll(self, job_ids: list[str]) -> dict[str, JobStatus]:
        if not job_ids:
            return {}
        argv = ["qstat", "-xml", "-u", self.user()]
        proc = self.run(argv)
        if proc.returncode != 0:
            raise self.failure(argv, proc)
        live = parse_qstat_xml(proc.stdout)
        found = {j: live[j] for j in job_ids if j in live}
        gone = sorted({j.split(".")[0] for j in job_ids if j not in found}, key=int)
        for number in gone:  # one qacct per job number: an array's tasks come in one answer
            proc = self.run(["qacct", "-j", number])
            if proc.returncode != 0:
                if "not found" in (proc.stderr + proc.stdout):
                    continue
                raise self.failure(["qacct", "-j", number], proc)
            ended = parse_qacct(proc.stdout)
            found.update({j: ended[j] for j in job_ids if j in ended and j not in found})
        return found  # jobs the engine has forgotten are absent (the core calls them lost)

    def cancel(self, job_ids: list[str]) -> None:
        if not job_ids:
            return
        argv = ["qdel", *job_ids]
        proc = self.run(argv)
        problems = [line for line in (proc.stderr + proc.stdout).splitlines()
                    if line.strip() and "does not exist" not in line and "has deleted" not in line
                    and "has registered" not in line]
        if proc.returncode != 0 and problems:
            raise BackendError(f"`qdel` exited {proc.returncode}: {problems[-1]}")
