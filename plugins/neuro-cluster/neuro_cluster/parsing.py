"""Helpers shared by the parsers of scheduler output."""

from __future__ import annotations

import re

from msc_neuro_cli.api import BackendError, JobStatus, RunState

RANGE = re.compile(r"^(\d+)(?:-(\d+)(?::(\d+))?)?$")
MAX_TASKS = 1_000_000


class SchedulerOutputError(BackendError):
    """Output of a scheduler command that cannot be understood (never guessed at)."""


def bad_output(command: str, problem: str, text: str = "") -> SchedulerOutputError:
    sample = text.strip().splitlines()[0][:120] if text.strip() else ""
    return SchedulerOutputError(f"cannot read `{command}` output: {problem}" + (f": {sample!r}" if sample else ""))


def expand_tasks(spec: str, command: str) -> list[int]:
    """Task lists as schedulers print them: '3', '4-10:2', '1,3,5-7' (a '%K' throttle is ignored)."""
    tasks: list[int] = []
    for part in spec.split("%")[0].split(","):
        match = RANGE.match(part.strip())
        if not match:
            raise bad_output(command, f"task list {spec!r}")
        first = int(match.group(1))
        last = int(match.group(2) or first)
        step = int(match.group(3) or 1)
        if last < first or step < 1 or (last - first) // step > MAX_TASKS:
            raise bad_output(command, f"task range {part!r}")
        tasks.extend(range(first, last + 1, step))
    return tasks


def ended(exit_code: int | None, signal: int = 0, detail: str = "") -> JobStatus:
    """A job that is over: finished when it exited 0, else failed with its exit code."""
    if signal:
        return JobStatus(RunState.FAILED, exit_code if exit_code else 128 + signal,
                         "; ".join(filter(None, [detail, f"killed by signal {signal}"])))
    if exit_code == 0:
        return JobStatus(RunState.FINISHED, 0, detail)
    return JobStatus(RunState.FAILED, exit_code, detail)


def to_int(value: object, command: str, what: str) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise bad_output(command, f"{what} {value!r} is not a number") from None
