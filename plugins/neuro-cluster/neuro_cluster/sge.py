"""The ``qsub`` backend for Sun/Son of Grid Engine (the seed's cluster)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from msc_neuro_cli.api import BackendError, JobStatus, Param, memory_mib

from .base import ClusterBackend, cluster_params
from .parse_sge import parse_qacct, parse_qstat_xml

QSUB_ID = re.compile(r"^(\d+)(?:\.\d+-\d+:\d+)?$")


class SgeBackend(ClusterBackend):
    """Grid Engine: one ``qsub -t`` array per sweep, status from ``qstat -xml`` then ``qacct -j``."""

    description = "Sun/Son of Grid Engine (qsub, job arrays with -t/-tc, qstat -xml, qacct)"
    dialect = "sge"
    PARAMS = {**cluster_params("queue", "queue (-q), e.g. cpu.q"),
              "pe": Param(str, "smp", "parallel environment for cores > 1 (-pe PE N)")}

    def builder_options(self, settings: dict[str, Any]) -> dict[str, Any]:
        return {"pe": settings["pe"]}

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
