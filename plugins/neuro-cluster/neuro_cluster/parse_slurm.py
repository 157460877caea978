"""Slurm status: ``squeue`` while the controller holds a job, then ``sacct`` (accounting) or the
job-completion file (``JobCompType=jobcomp/filetxt``, what ``sacct -c`` reads) once it is gone.

Job ids are ``JOBID`` for a plain job and ``ARRAYJOBID_TASK`` for an array task, as ``scancel`` takes them.
"""

from __future__ import annotations

import re

from msc_neuro_cli.api import JobStatus, RunState

from .parsing import bad_output, ended, expand_tasks, to_int

# squeue -h -r --states=all -O SQUEUE_FORMAT: every field ends with '|', so no padding, no truncation
SQUEUE_FORMAT = "JobArrayID:|,JobID:|,State:|,Reason:|,exit_code:|"
SACCT_FIELDS = "JobID,State,ExitCode"
ARRAY_RANGE = re.compile(r"^(\d+)_\[(.+)\]$")
JOBCOMP_FIELD = re.compile(r"(?:^|\s)(JobId|JobState|ArrayJobId|ArrayTaskId|ExitCode)=(\S*)")
NO_TASK = {"", "N/A", "4294967294", "4294967295"}

QUEUED = {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD"}
RUNNING = {"RUNNING", "COMPLETING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT", "RESIZING"}
CANCELLED = {"CANCELLED", "REVOKED"}
FAILED = {"FAILED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE", "PREEMPTED",
          "SPECIAL_EXIT"}


def exit_parts(text: str, command: str) -> tuple[int, int]:
    """'3:0' (exit:signal, sacct) or a raw wait status such as 768 (squeue) -> (exit, signal)."""
    text = text.strip()
    if ":" in text:
        code, _, signal = text.partition(":")
        return to_int(code, command, "exit code"), to_int(signal, command, "signal")
    raw = to_int(text or "0", command, "exit code")
    return raw >> 8 & 0xFF, raw & 0x7F


def slurm_state(state: str, exit_text: str, reason: str, command: str) -> JobStatus:
    word = state.split()[0].rstrip("+") if state.split() else ""
    reason = "" if reason in ("None", "(null)") else reason
    if word in QUEUED:
        return JobStatus(RunState.QUEUED, None, reason)
    if word in RUNNING:
        return JobStatus(RunState.RUNNING, None, "" if word == "RUNNING" else word)
    exit_code, signal = exit_parts(exit_text, command)
    if word == "COMPLETED":
        return ended(exit_code, signal)
    if word in CANCELLED:
        return JobStatus(RunState.CANCELLED, exit_code, state)
    if word in FAILED:
        detail = "" if (word == "FAILED" and reason in ("", "NonZeroExitCode")) else word
        return ended(exit_code, signal, detail) if (exit_code or signal) else JobStatus(RunState.FAILED, exit_code, word)
    if not word:
        raise bad_output(command, "empty job state")
    return JobStatus(RunState.RUNNING, None, f"unknown state {state!r}")


def _keys(job_id: str, command: str) -> list[str]:
    match = ARRAY_RANGE.match(job_id)
    if match:
        return [f"{match.group(1)}_{task}" for task in expand_tasks(match.group(2), command)]
    if not re.match(r"^\d+(_\d+)?$", job_id):
        raise bad_output(command, f"job id {job_id!r}")
    return [job_id]


def _rows(text: str, fields: int, command: str, trailing: bool) -> list[list[str]]:
    """'|'-separated lines; ``trailing``: every field ends with '|' (squeue -O "F:|,...")."""
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split("|")
        if trailing:
            parts = parts[:-1] if parts[-1] == "" else []
        if len(parts) != fields:
            raise bad_output(command, f"expected {fields} '|'-separated fields", line)
        rows.append([p.strip() for p in parts])
    return rows


def parse_squeue(text: str) -> dict[str, JobStatus]:
    """``squeue -h -r --states=all -O SQUEUE_FORMAT`` -> job id -> status."""
    command = "squeue"
    out: dict[str, JobStatus] = {}
    for array_id, _raw_id, state, reason, exit_text in _rows(text, 5, command, trailing=True):
        status = slurm_state(state, exit_text, reason, command)
        for key in _keys(array_id, command):
            out[key] = status
    return out


def parse_sacct(text: str) -> dict[str, JobStatus]:
    """``sacct -n -P -X -o JobID,State,ExitCode`` (also ``sacct -c`` with the same options)."""
    command = "sacct"
    out: dict[str, JobStatus] = {}
    for job_id, state, exit_text in _rows(text, 3, command, trailing=False):
        if "." in job_id:  # a job step (123.batch); -X normally leaves them out
            continue
        status = slurm_state(state, exit_text, "", command)
        for key in _keys(job_id, command):
            out[key] = status
    return out


def parse_jobcomp(text: str) -> dict[str, JobStatus]:
    """The jobcomp/filetxt file: one ``JobId=.. JobState=.. ArrayJobId=.. ExitCode=..`` line per job.

    Unlike ``sacct -c`` (Slurm 22.05 drops the array fields), this keeps array tasks apart.
    A job recorded twice (requeued) counts by its last line.
    """
    command = "job completion file"
    out: dict[str, JobStatus] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        fields: dict[str, str] = {}
        for key, value in JOBCOMP_FIELD.findall(line):
            fields.setdefault(key, value)
        if "JobId" not in fields or "JobState" not in fields:
            raise bad_output(command, "a line without JobId or JobState", line)
        job_id = str(to_int(fields["JobId"], command, "JobId"))
        task = fields.get("ArrayTaskId", "")
        if task not in NO_TASK:
            job_id = f"{to_int(fields.get('ArrayJobId', ''), command, 'ArrayJobId')}_{to_int(task, command, 'ArrayTaskId')}"
        out[job_id] = slurm_state(fields["JobState"], fields.get("ExitCode", "0:0"), "", command)
    return out
