"""What the job scripts of every dialect share (each dialect's class adds its directives and how
its engine tells a task its array index: ``ClusterBackend.script``).

One script serves a whole sweep: task N of the job (1 without an array) reads line N of a run list
written next to the script (``RUN_ID<TAB>STDOUT_LOG<TAB>STDERR_LOG``), sends its output to that run's
logs and execs the worker. Nothing here runs anything: these are pure text builders.
"""

from __future__ import annotations

import shlex

from msc_neuro_cli.api import BackendError

from .jobspec import JobSpec, directive_value, split_extra

BODY = """\
# Written by neuro: runs `neuro worker` for one run of the run list next to this script.
# Task N of the job (1 without an array) runs line N: RUN_ID<TAB>STDOUT_LOG<TAB>STDERR_LOG.
RUNS={runs}
{task}
case "$TASK" in ''|*[!0-9]*) echo "neuro: bad array index '$TASK'" >&2; exit 97 ;; esac
LINE=$(sed -n "${{TASK}}p" "$RUNS")
if [ -z "$LINE" ]; then
    echo "neuro: task $TASK has no line in $RUNS" >&2
    exit 97
fi
TAB=$(printf '\\t')
IFS="$TAB" read -r RUN OUT ERR <<EOF_RUN
$LINE
EOF_RUN
mkdir -p "$(dirname "$OUT")" "$(dirname "$ERR")"
exec >>"$OUT" 2>>"$ERR"
{run}
"""

# The worker as a child of the script, which forwards the engine's warning signal (USR1, sent to
# the batch shell before the time limit) and requeues the job when the worker checkpointed for it
# (exit code 75): the requeued job's worker resumes from that checkpoint.
REQUEUE_RUN = """\
export NEURO_REQUEUE=1
{command} "$RUN" &
WORKER=$!
trap 'kill -USR1 "$WORKER" 2>/dev/null' USR1
trap 'kill -TERM "$WORKER" 2>/dev/null' TERM
while :; do
    wait "$WORKER"
    CODE=$?
    kill -0 "$WORKER" 2>/dev/null || break
done
if [ "$CODE" -eq {requeue_code} ]; then
    echo "neuro: the worker checkpointed for a requeue: requeueing the job" >&2
    {requeue}
fi
exit "$CODE"
"""
REQUEUE_EXIT = 75  # the worker's "checkpointed on the warning signal, requeue me" (EX_TEMPFAIL)


def run_list(entries: list[tuple[str, str, str]]) -> str:
    """The run list: one ``run id, stdout log, stderr log`` line per array task."""
    lines = []
    for fields in entries:
        for value in fields:
            if any(c in str(value) for c in "\t\n\r") or not str(value):
                raise BackendError(f"run list entry {value!r} is empty or contains a tab or newline")
        lines.append("\t".join(map(str, fields)))
    return "\n".join(lines) + "\n"


def job_script(prefix: str, options: list[list[str]], spec: JobSpec, task_index: str) -> str:
    """The whole script: ``#!/bin/sh``, one ``PREFIX OPTION...`` line per directive (the dialect's
    ``options``, then the profile's ``extra``), then the body that runs the task's line."""
    if not spec.command:
        raise BackendError("job script needs a worker command")
    lines = ["#!/bin/sh"]
    lines += [f"{prefix} {' '.join(tokens)}" for tokens in [*options, *split_extra(spec.extra)]]
    command = " ".join(shlex.quote(str(part)) for part in spec.command)
    run = (REQUEUE_RUN.format(command=command, requeue=spec.requeue, requeue_code=REQUEUE_EXIT).rstrip("\n")
           if spec.requeue else f'exec {command} "$RUN"')
    return "\n".join(lines) + "\n" + BODY.format(runs=shlex.quote(str(spec.runs_file)), task=task_index, run=run)


def checked(spec: JobSpec) -> tuple[str, str]:
    """The job name and the scheduler log stem, both safe for directives."""
    if spec.tasks < 1:
        raise BackendError("a job needs at least one run")
    return directive_value(spec.name, "job name"), directive_value(spec.sched_log, "scheduler log path")
