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
import threading
import time
from collections import deque
from contextlib import contextmanager

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


class _CtrlC:
    pressed = False

    def __call__(self, signum, frame):
        self.pressed = True


@contextmanager
def _ctrl_c_as_flag():
    """Ctrl-C sets a flag that the polling loop checks, instead of raising KeyboardInterrupt
    wherever the main thread happens to be: raised inside rich's progress lock, it could leave the
    lock held and the progress view's refresh thread blocked, so the command would hang on exit
    instead of forwarding the interrupt (a suspected cause of a rare CI hang, not reproduced).
    Outside the main thread (no handler can be set) Ctrl-C raises as usual."""
    flag = _CtrlC()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = signal.signal(signal.SIGINT, flag)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def _exit_status(code: int) -> JobStatus:
    """How a worker process ended (the worker records its own end; this covers a crash)."""
    if code == 0:
        return JobStatus(RunState.FINISHED, 0)
    return JobStatus(RunState.FAILED, code, f"worker exited with code {code}")


class _Workers:
    """The worker processes of one submission: started up to --jobs at a time, followed in the
    progress view through the run store, and reported to the core as they start and end."""

    def __init__(self, submission: Submission, env: dict, progress: Progress):
        self.submission, self.env, self.progress = submission, env, progress
        self.store = RunStore(submission.store)
        self.pending = deque(submission.run_ids)
        self.running: dict[str, subprocess.Popen] = {}
        self.jobs: dict[str, str] = {}
        self.bars: dict[str, int] = {}
        self.overall = progress.add_task("runs", total=len(self.pending), info="")

    def pending_or_running(self) -> bool:
        return bool(self.pending or self.running)

    def start_more(self) -> None:
        while self.pending and len(self.running) < max(1, self.submission.jobs):
            rid = self.pending.popleft()
            if not self.submission.reporter.wanted(rid):
                self.progress.advance(self.overall)  # cancelled before it started
                continue
            out, err = self.submission.log_paths[rid]
            out.parent.mkdir(parents=True, exist_ok=True)
            with open(out, "ab") as fo, open(err, "ab") as fe:
                proc = subprocess.Popen(worker_argv(self.submission.store, rid), stdout=fo,
                                        stderr=fe, env=self.env, start_new_session=True)
            self.running[rid] = proc
            self.jobs[rid] = f"local:{os.uname().nodename}:{proc.pid}"
            self.submission.reporter.started(rid, self.jobs[rid])
            epochs = self.store.read_spec(RunId.parse(rid))["training"]["epochs"]
            self.bars[rid] = self.progress.add_task(rid, total=epochs, info="starting")

    def follow(self) -> None:
        """Progress of every running worker from its run state; report those that ended."""
        for rid, proc in list(self.running.items()):
            state = self.store.read_state(RunId.parse(rid))
            corr = state.get("last_val_correlation")
            info = f"{state.get('reps_done', 0)}/{state.get('reps_total', '?')} reps"
            if corr is not None:
                info += f"  val r {corr:.3f}"
            self.progress.update(self.bars[rid], completed=state.get("epoch", 0), info=info)
            if proc.poll() is not None:
                del self.running[rid]
                self.submission.reporter.ended(rid, self.jobs[rid], _exit_status(proc.returncode))
                self.progress.update(self.bars[rid], info=f"{self.store.read_state(RunId.parse(rid))['state']}")
                self.progress.advance(self.overall)

    def forward_ctrl_c(self) -> None:
        """Workers run in their own sessions: pass Ctrl-C on and wait for them to checkpoint."""
        for proc in self.running.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in self.running.values():
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()


class LocalBackend(Backend):
    description = "worker processes on this machine, --jobs at a time"
    blocking = True
    PARAMS = {
        "threads": Param(int, 0, "TensorFlow threads per worker (0: TensorFlow decides)", minimum=0),
    }

    def submit(self, submission: Submission) -> dict[str, str]:
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
        # Workers share this machine's cores: each gets cores / jobs threads (or the profile's).
        threads = self.profile.get("threads") or max(1, (os.cpu_count() or 1) // max(1, submission.jobs))
        env["NEURO_THREADS"] = str(threads)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[info]}"), TimeElapsedColumn())
        with Progress(*columns, transient=False, console=Console(stderr=True)) as progress:  # stdout stays data
            workers = _Workers(submission, env, progress)
            with _ctrl_c_as_flag() as ctrl_c:
                while workers.pending_or_running() and not ctrl_c.pressed:
                    workers.start_more()
                    workers.follow()
                    time.sleep(0.2)
                if ctrl_c.pressed:
                    # Still under the flag handler: a second Ctrl-C (or a wrapper such as `timeout`
                    # passing on its own) must not cut short the wait for the workers' checkpoints.
                    workers.forward_ctrl_c()
        if ctrl_c.pressed:
            raise KeyboardInterrupt
        return workers.jobs

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
