"""Grid Engine status: ``qstat -xml`` for jobs the engine still holds, ``qacct -j`` for ended ones.

Job ids are ``NUMBER`` for a plain job and ``NUMBER.TASK`` for an array task, as ``qdel`` takes them.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from msc_neuro_cli.api import JobStatus, RunState

from .parsing import bad_output, ended, expand_tasks, to_int

QSTAT = "qstat -xml"
QACCT = "qacct -j"
SEPARATOR = re.compile(r"^={10,}\s*$")


def qstat_state(code: str) -> JobStatus:
    """Map a state code such as 'qw', 'hqw', 'r', 't', 'Eqw', 'dr' to a JobStatus."""
    if "E" in code:
        return JobStatus(RunState.FAILED, None, f"Grid Engine error state {code!r} (see `qstat -j ID`)")
    if "d" in code:  # qdel in progress: not over until the engine lets go (then qacct has the end)
        return JobStatus(RunState.RUNNING if "r" in code or "t" in code else RunState.QUEUED, None, f"being deleted ({code})")
    if "r" in code or "t" in code:
        return JobStatus(RunState.RUNNING, None, "" if code == "r" else f"state {code}")
    if any(c in code for c in "sST"):
        return JobStatus(RunState.RUNNING, None, f"suspended ({code})")
    if any(c in code for c in "qwh"):
        return JobStatus(RunState.QUEUED, None, "held" if "h" in code else "")
    return JobStatus(RunState.RUNNING, None, f"unknown state {code!r}")


def parse_qstat_xml(text: str) -> dict[str, JobStatus]:
    """``qstat -xml [-u USER]`` -> job id -> status; pending array tasks are expanded."""
    if not text.strip():
        return {}
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise bad_output(QSTAT, f"not XML ({exc})", text) from None
    if root.tag != "job_info":
        raise bad_output(QSTAT, f"unexpected root element <{root.tag}>")
    out: dict[str, JobStatus] = {}
    for job in root.iter("job_list"):
        number = job.findtext("JB_job_number")
        code = job.findtext("state")
        if number is None or code is None:
            raise bad_output(QSTAT, "a <job_list> without JB_job_number or state")
        number = str(to_int(number, QSTAT, "job number"))
        status = qstat_state(code.strip())
        tasks = (job.findtext("tasks") or "").strip()
        if tasks:
            for task in expand_tasks(tasks, QSTAT):
                out[f"{number}.{task}"] = status
        else:
            out[number] = status
    return out


def _records(text: str) -> list[dict[str, str]]:
    records: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    for line in text.splitlines():
        if SEPARATOR.match(line):
            current = {}
            records.append(current)
            continue
        if not line.strip():
            continue
        if current is None:
            raise bad_output(QACCT, "text before the first record", line)
        key, _, value = line.strip().partition(" ")
        current[key] = value.strip()
    return records


def parse_qacct(text: str) -> dict[str, JobStatus]:
    """``qacct -j ID`` (one or more records) -> job id -> finished/failed status.

    A job that ran more than once (rescheduled) has several records; the last one counts.
    """
    out: dict[str, JobStatus] = {}
    for record in _records(text):
        for key in ("jobnumber", "taskid", "failed", "exit_status"):
            if key not in record:
                raise bad_output(QACCT, f"record without {key!r}")
        number = to_int(record["jobnumber"], QACCT, "jobnumber")
        task = record["taskid"]
        job_id = f"{number}" if task == "undefined" else f"{number}.{to_int(task, QACCT, 'taskid')}"
        failed_text = record["failed"]
        failed = to_int(failed_text.split(":")[0], QACCT, "failed")
        exit_code = to_int(record["exit_status"].split()[0], QACCT, "exit_status")
        if failed:
            detail = f"Grid Engine failure {failed_text}" + (" (killed)" if exit_code == 137 else "")
            out[job_id] = JobStatus(RunState.FAILED, exit_code, detail)
        else:
            out[job_id] = ended(exit_code)
    return out
