"""PBS Pro / OpenPBS status from ``qstat -x -t -f -F json`` (``-x`` keeps finished jobs in the
answer while the server's job history lasts, ``-t`` lists array subjobs one by one).

No PBS server exists for Debian, so this follows the documented format and is tested on captured
(hand-written) output only. Job ids are shortened to ``SEQ`` or ``SEQ[INDEX]`` (the server name is
dropped) so ids from ``qsub`` and from ``qstat`` compare equal.
"""

from __future__ import annotations

import json
import re

from msc_neuro_cli.api import JobStatus, RunState

from .parsing import bad_output, ended, to_int

COMMAND = "qstat -f -F json"
JOB_ID = re.compile(r"^(\d+)(\[\d*\])?(?:\..*)?$")
SUBSTATE_TERMINATED, SUBSTATE_FINISHED, SUBSTATE_FAILED = 91, 92, 93


def short_id(job_id: str) -> str:
    """'123[4].server.domain' -> '123[4]', '123.server' -> '123'."""
    match = JOB_ID.match(job_id.strip())
    if not match:
        raise bad_output(COMMAND, f"job id {job_id!r}")
    return match.group(1) + (match.group(2) or "")


def pbs_state(job: dict) -> JobStatus:
    state = str(job.get("job_state", ""))
    comment = str(job.get("comment", ""))
    if state in ("Q", "H", "W", "T", "M"):
        return JobStatus(RunState.QUEUED, None, {"H": "held", "W": "waiting", "M": "moved"}.get(state, ""))
    if state in ("R", "E", "B"):
        return JobStatus(RunState.RUNNING, None, "")
    if state in ("S", "U"):
        return JobStatus(RunState.RUNNING, None, "suspended")
    if state not in ("F", "X"):
        raise bad_output(COMMAND, f"job state {state!r}")
    substate = job.get("substate")
    substate = to_int(substate, COMMAND, "substate") if substate is not None else None
    raw = job.get("Exit_status")
    if raw is None:
        if substate == SUBSTATE_FINISHED:
            return JobStatus(RunState.FINISHED, None, comment)
        return JobStatus(RunState.CANCELLED if substate == SUBSTATE_TERMINATED else RunState.FAILED, None, comment)
    code = to_int(raw, COMMAND, "Exit_status")
    if substate == SUBSTATE_TERMINATED:
        return JobStatus(RunState.CANCELLED, code, comment)
    if code < 0:
        return JobStatus(RunState.FAILED, code, f"PBS could not run the job (Exit_status {code}) {comment}".strip())
    if code >= 256:  # PBS reports death by signal N as 256 + N
        return ended(None, code - 256)
    return ended(code)


def parse_qstat_json(text: str) -> dict[str, JobStatus]:
    """job id (short form) -> status. Empty output (no jobs) -> {}."""
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise bad_output(COMMAND, f"not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise bad_output(COMMAND, "not a JSON object")
    jobs = data.get("Jobs", {})
    if not isinstance(jobs, dict):
        raise bad_output(COMMAND, "'Jobs' is not an object")
    out: dict[str, JobStatus] = {}
    for job_id, job in jobs.items():
        if not isinstance(job, dict):
            raise bad_output(COMMAND, f"job {job_id!r} is not an object")
        out[short_id(job_id)] = pbs_state(job)
    return out
