"""Runs ``neuro worker`` processes on this machine, ``--jobs`` at a time, with a live progress view.
It reads progress from the run store and reports each worker's start and end to the core
(``submission.reporter``), which records them.

Ctrl-C is forwarded to the workers, which stop within seconds, keep finished repetitions and
the rest's last checkpoint (state ``interrupted``); the same command resumes them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import deque

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from msc_neuro_cli.api import Backend, JobStatus, Param, RunId, RunState, RunStore, Submission, worker_argv


def _worker_pid(job: str, host: str) -> int | None:
    """The pid of a local job id ``local:HOST:PID`` if that process is still a neuro worker here.

    Checking the command line guards against pid reuse: a pid recorded for a worker that died
    may now belong to an unrelated process, which must never be signalled.
    """
    parts = job.split(":")
    if len(parts) != 3 or parts[1] != host or not parts[2].isdigit():
        return None
    try:
        cmdline = open(f"/proc/{parts[2]}/cmdline", "rb").read().split(b"\0")
    except OSError:
        return None
    return int(parts[2]) if b"msc_neuro_cli" in cmdline and b"worker" in cmdline else None


def _exit_status(code: int) -> JobStatus:
    """How a worker process ended (the worker records its own end; this covers a crash)."""
    if code == 0:
        return JobStatus(RunState.FINISHED, 0)
    return JobStatus(RunState.FAILED, code, f"worker exited with code {code}")


class LocalBackend(Backend):
    description = "worker processes on this machine, --jobs at a time"
    blocking = True
    PARAMS = {
        "threads": Param(int, 0, "TensorFlow threads per worker (0: TensorFlow decides)", minimum=0),
    }

    def submit(self, submission: Submission) -> dict[str, str]:
        store = RunStore(submission.store)
        pending = deque(submission.run_ids)
        running: dict[str, subprocess.Popen] = {}
        jobs: dict[str, str] = {}
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
        # Workers share this machine's cores: each gets cores / jobs threads (or the profile's).
        threads = self.profile.get("threads") or max(1, (os.cpu_count() or 1) // max(1, submission.jobs))
        env["NEURO_THREADS"] = str(threads)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[info]}"), TimeElapsedColumn())
        with Progress(*columns, transient=False, console=Console(stderr=True)) as progress:  # stdout stays data
            overall = progress.add_task("runs", total=len(pending), info="")
            bars: dict[str, int] = {}
            try:
                while pending or running:
                    while pending and len(running) < max(1, submission.jobs):
                        rid = pending.popleft()
                        if not submission.reporter.wanted(rid):
                            progress.advance(overall)  # cancelled before it started
                            continue
                        out, err = submission.log_paths[rid]
                        out.parent.mkdir(parents=True, exist_ok=True)
                        with open(out, "ab") as fo, open(err, "ab") as fe:
                            proc = subprocess.Popen(worker_argv(submission.store, rid), stdout=fo,
                                                    stderr=fe, env=env, start_new_session=True)
                        running[rid] = proc
                        jobs[rid] = f"local:{os.uname().nodename}:{proc.pid}"
                        submission.reporter.started(rid, jobs[rid])
                        epochs = store.read_spec(RunId.parse(rid))["training"]["epochs"]
                        bars[rid] = progress.add_task(rid, total=epochs, info="starting")
                    for rid, proc in list(running.items()):
                        state = store.read_state(RunId.parse(rid))
                        corr = state.get("last_val_correlation")
                        info = f"{state.get('reps_done', 0)}/{state.get('reps_total', '?')} reps"
                        if corr is not None:
                            info += f"  val r {corr:.3f}"
                        progress.update(bars[rid], completed=state.get("epoch", 0), info=info)
                        if proc.poll() is not None:
                            del running[rid]
                            submission.reporter.ended(rid, jobs[rid], _exit_status(proc.returncode))
                            progress.update(bars[rid], info=f"{store.read_state(RunId.parse(rid))['state']}")
                            progress.advance(overall)
                    time.sleep(0.2)
            except KeyboardInterrupt:
                for proc in running.values():  # workers run in their own sessions: forward Ctrl-C
                    if proc.poll() is None:
                        proc.send_signal(signal.SIGINT)
                for proc in running.values():
                    try:
                        proc.wait(timeout=120)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                raise
        return jobs

    def poll(self, job_ids: list[str]) -> dict[str, JobStatus]:
        """Local jobs are alive while their process exists on this host."""
        host = os.uname().nodename
        return {job: JobStatus(RunState.RUNNING) for job in job_ids if _worker_pid(job, host) is not None}

    def cancel(self, job_ids: list[str]) -> None:
        host = os.uname().nodename
        for job in job_ids:
            pid = _worker_pid(job, host)
            if pid is not None:
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
