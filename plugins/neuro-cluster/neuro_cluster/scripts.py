"""Job scripts for Grid Engine (``#$``), PBS Pro/OpenPBS (``#PBS``) and Slurm (``#SBATCH``).

One script serves a whole sweep: task N of the job (1 without an array) reads line N of a run list
written next to the script (``RUN_ID<TAB>STDOUT_LOG<TAB>STDERR_LOG``), sends its output to that run's
logs and execs the worker. Nothing here runs anything: these are pure text builders.
"""

from __future__ import annotations

import shlex

from msc_neuro_cli.api import BackendError

from .jobspec import JobSpec, directive_value, memory_mib, split_extra, walltime_hms

# How each engine tells a task its array index; TASK is the 1-based line of the run list.
TASK_INDEX = {
    "sge": 'TASK="${SGE_TASK_ID:-undefined}"\n[ "$TASK" = undefined ] && TASK=1',
    "pbs": 'TASK="${PBS_ARRAY_INDEX:-${PBS_ARRAYID:-1}}"',
    "slurm": 'if [ -n "${SLURM_ARRAY_TASK_ID:-}" ]; then TASK=$((SLURM_ARRAY_TASK_ID + 1)); else TASK=1; fi',
}

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
exec >"$OUT" 2>"$ERR"
exec {command} "$RUN"
"""


def run_list(entries: list[tuple[str, str, str]]) -> str:
    """The run list: one ``run id, stdout log, stderr log`` line per array task."""
    lines = []
    for fields in entries:
        for value in fields:
            if any(c in str(value) for c in "\t\n\r") or not str(value):
                raise BackendError(f"run list entry {value!r} is empty or contains a tab or newline")
        lines.append("\t".join(map(str, fields)))
    return "\n".join(lines) + "\n"


def _body(spec: JobSpec, dialect: str) -> str:
    if not spec.command:
        raise BackendError("job script needs a worker command")
    command = " ".join(shlex.quote(str(part)) for part in spec.command)
    return BODY.format(runs=shlex.quote(str(spec.runs_file)), task=TASK_INDEX[dialect], command=command)


def _script(prefix: str, options: list[list[str]], spec: JobSpec, dialect: str) -> str:
    lines = ["#!/bin/sh"]
    lines += [f"{prefix} {' '.join(tokens)}" for tokens in options]
    lines += [f"{prefix} {' '.join(tokens)}" for tokens in split_extra(spec.extra)]
    return "\n".join(lines) + "\n" + _body(spec, dialect)


def _checked(spec: JobSpec) -> tuple[str, str]:
    """The job name and the scheduler log stem, both safe for directives."""
    if spec.tasks < 1:
        raise BackendError("a job needs at least one run")
    return directive_value(spec.name, "job name"), directive_value(spec.sched_log, "scheduler log path")


def sge_script(spec: JobSpec, pe: str = "smp") -> str:
    """Grid Engine: submit with the store as working directory (``-cwd``)."""
    name, log = _checked(spec)
    suffix = ".$TASK_ID" if spec.is_array else ""
    opts = [["-N", name], ["-S", "/bin/sh"], ["-cwd"],
            ["-o", f"{log}.o$JOB_ID{suffix}"], ["-e", f"{log}.e$JOB_ID{suffix}"]]
    if spec.is_array:
        opts.append(["-t", f"1-{spec.tasks}"])
        if spec.max_parallel:
            opts.append(["-tc", str(int(spec.max_parallel))])
    if spec.cores > 1:
        opts.append(["-pe", directive_value(pe, "pe"), str(int(spec.cores))])
    if spec.memory:
        opts.append(["-l", f"mem_free={memory_mib(spec.memory)}M"])
    if spec.gpus:
        opts.append(["-l", f"gpu={int(spec.gpus)}"])
    if spec.walltime:
        opts.append(["-l", f"h_rt={walltime_hms(spec.walltime)}"])
    if spec.queue:
        opts.append(["-q", directive_value(spec.queue, "queue")])
    return _script("#$", opts, spec, "sge")


def pbs_script(spec: JobSpec) -> str:
    """PBS Pro / OpenPBS: one chunk (``select=1``) with the cores, memory and GPUs."""
    name, log = _checked(spec)
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
    return _script("#PBS", opts, spec, "pbs")


def slurm_script(spec: JobSpec) -> str:
    """Slurm: one task with ``cores`` CPUs; arrays are 0-based (``--array=0-(N-1)%K``)."""
    name, log = _checked(spec)
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
    return _script("#SBATCH", opts, spec, "slurm")


BUILDERS = {"sge": sge_script, "pbs": pbs_script, "slurm": slurm_script}
