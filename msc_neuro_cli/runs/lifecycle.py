"""The run lifecycle: the states of a run, the moves allowed between them, and a run's effective
state (what the store says, merged with what its engine reports of the job).

    planned ──► queued ──► running ──► finished
                  │  ▲        │
                  │  └────────┤ (requeue, --force)
                  ▼           ▼
          failed · cancelled · interrupted · lost ──► queued (neuro run / --retry-failed)

Every state write goes through :data:`TRANSITIONS` (the run store refuses other moves silently,
so a worker stopping after ``neuro cancel`` cannot turn ``cancelled`` into ``interrupted``).
Backends only report :class:`JobStatus`; the core records what they report with the functions
below (``submit``, ``status``, ``cancel`` and the worker all use them). Nothing here imports the
run store: functions take it as an argument, and the store imports this module.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from enum import Enum
from typing import Any


class RunState(str, Enum):
    """A run's state as ``state.json`` stores it (the same strings as before the enum)."""

    PLANNED = "planned"          # spec known, never submitted (no state.json yet)
    QUEUED = "queued"            # its job exists (or a local sweep holds it) and has not started
    RUNNING = "running"          # a worker is training it
    FINISHED = "finished"        # record and ledger line written
    FAILED = "failed"            # the worker or its job failed (error says why)
    INTERRUPTED = "interrupted"  # stopped by a signal with a checkpoint: a rerun resumes
    CANCELLED = "cancelled"      # stopped with `neuro cancel`
    LOST = "lost"                # the engine forgot the job and no worker recorded an end

    def __str__(self) -> str:
        return self.value


S = RunState
ACTIVE = frozenset({S.QUEUED, S.RUNNING})                      # an engine holds the run's job
RETRYABLE = frozenset({S.FAILED, S.LOST, S.INTERRUPTED, S.CANCELLED})  # --retry-failed resubmits
TERMINAL = frozenset({S.FINISHED}) | RETRYABLE                   # no job is working on it

_ENDS = {S.FINISHED, S.FAILED, S.INTERRUPTED, S.CANCELLED, S.LOST}
TRANSITIONS: dict[RunState, frozenset[RunState]] = {
    S.PLANNED: frozenset({S.QUEUED, S.RUNNING, S.FAILED, S.CANCELLED}),
    S.QUEUED: frozenset(RunState) - {S.QUEUED},                # also back to what it was (rollback)
    S.RUNNING: frozenset(_ENDS | {S.QUEUED}),                  # queued again: requeued or --force
    S.FINISHED: frozenset({S.QUEUED, S.RUNNING}),              # --force, or `neuro worker` by hand
    S.FAILED: frozenset({S.QUEUED, S.RUNNING, S.FINISHED}),
    S.INTERRUPTED: frozenset({S.QUEUED, S.RUNNING, S.FINISHED, S.FAILED, S.CANCELLED}),
    S.CANCELLED: frozenset({S.QUEUED, S.FINISHED}),            # its worker may not start or stop otherwise
    S.LOST: frozenset({S.QUEUED, S.RUNNING, S.FINISHED, S.FAILED, S.CANCELLED}),
}


def allowed(current: RunState | str, new: RunState | str) -> bool:
    """May a run in ``current`` move to ``new``? (Staying in the same state always may, and any
    state may replace one that is not a RunState, e.g. from a damaged file.)"""
    new = RunState(new)
    if current not in RunState._value2member_map_:
        return True
    current = RunState(current)
    return current == new or new in TRANSITIONS[current]


def state_of(state: dict[str, Any]) -> RunState:
    """The RunState of a ``state.json`` mapping (planned when it has none)."""
    value = state.get("state") or S.PLANNED
    try:
        return RunState(value)
    except ValueError:
        from msc_neuro_cli.errors import StoreError

        raise StoreError(f"unknown run state {value!r} in state.json (known: "
                         f"{', '.join(s.value for s in RunState)})") from None


@dataclass
class JobStatus:
    """What a backend reports of one job: a RunState, the exit code once over, and why."""

    state: RunState
    exit_code: int | None = None
    detail: str = ""

    def __post_init__(self):
        self.state = RunState(self.state)


# ------------------------------------------------------------------------- effective state
def effective_state(state: dict[str, Any], polled: dict[str, JobStatus] | None = None) -> dict[str, Any]:
    """Merge the store's state of a run with what its engine says of the job (``polled``: job id
    -> status, None when the engine was not asked or could not be reached).

    A run the store calls queued/running whose job the engine has forgotten (and, for a worker on
    this host, whose process is gone) is ``lost``: the job ended without writing a result.
    """
    state = dict(state)
    current = state_of(state)
    job = state.get("job_id")
    if current in ACTIVE and polled is not None and job:
        status = polled.get(job)
        if status is None:
            state["state"] = S.LOST.value
        elif status.state in (S.FAILED, S.CANCELLED):
            state["state"] = status.state.value
            state["exit_code"] = status.exit_code
            state["error"] = status.detail or state.get("error")
        elif status.state == S.RUNNING and current == S.QUEUED:
            state["state"] = S.RUNNING.value
    elif current == S.RUNNING and state.get("host") == socket.gethostname():
        pid = state.get("pid")
        if pid and not _alive(int(pid)):
            state["state"] = S.LOST.value
    return state


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


# ------------------------------------------------------------------------- recorded moves
# The functions below are the only places outside the worker that change a run's state.

def hold(store, rid, backend) -> None:
    """A blocking backend (the local sweep) holds the run from now: queued, no job yet."""
    store.update_state(rid, state=S.QUEUED, job_id=None, error=None, exit_code=None, **_backend_fields(backend))


def submitted(store, rid, backend, job_id: str | None, before: dict[str, Any]) -> None:
    """The engine accepted the run's job: record it, and call the run queued unless its worker
    has already written a state of its own since ``before`` (a fast job may start at once)."""
    def change(current: dict[str, Any]) -> dict[str, Any]:
        changes = {"job_id": job_id, **_backend_fields(backend)}
        if current.get("updated") == before.get("updated"):
            changes.update(state=S.QUEUED.value, error=None, exit_code=None)
        return changes
    store.modify_state(rid, change)


def release(store, rid, before: dict[str, Any]) -> None:
    """A held run whose job never started goes back to what it was (a failed submission)."""
    def change(current: dict[str, Any]) -> dict[str, Any]:
        if state_of(current) != S.QUEUED or current.get("job_id"):
            return {}
        keys = ("state", "error", "exit_code", "backend", "backend_plugin", "profile", "job_id")
        return {key: before.get(key) for key in keys} | {"state": state_of(before).value}
    store.modify_state(rid, change)


def job_started(store, rid, job_id: str) -> None:
    """A blocking backend started the run's job."""
    store.update_state(rid, job_id=job_id)


def job_ended(store, rid, job_id: str, status: JobStatus) -> bool:
    """Record how the engine says a job ended, if its run still waits for that job (the worker
    records its own end; this catches jobs that died without a word). True if recorded."""
    if status.state not in (S.FAILED, S.CANCELLED):
        return False

    def change(current: dict[str, Any]) -> dict[str, Any]:
        if state_of(current) not in ACTIVE or current.get("job_id") != job_id:
            return {}
        return {"state": status.state.value, "exit_code": status.exit_code,
                "error": current.get("error") or status.detail or f"job {job_id} ended: {status.state}"}
    return bool(store.modify_state(rid, change, report_changed=True))


def cancelled(store, rid) -> None:
    store.update_state(rid, state=S.CANCELLED, error="cancelled with `neuro cancel`")


def settled(store, rid, effective: dict[str, Any]) -> None:
    """Write a run's effective terminal state (``--wait`` at the end of a sweep)."""
    if state_of(effective) != state_of(store.read_state(rid)):
        store.update_state(rid, state=state_of(effective))


def _backend_fields(backend) -> dict[str, Any]:
    """What a run's state records of its backend, so status and cancel rebuild the same one."""
    return {"backend": backend.name, "backend_plugin": getattr(backend, "plugin_name", backend.name),
            "profile": dict(backend.profile), "submitted": time.time()}


# ------------------------------------------------------------------------- asking the engines
def backend_for(state: dict[str, Any], regs):
    """The backend a run was submitted to, rebuilt with the profile recorded at submission
    (runs stored before profiles were recorded get the backend's defaults). None if unknown."""
    name, plugin = state.get("backend"), state.get("backend_plugin")
    if not plugin and name is not None:   # states written before the plugin was recorded
        plugin = name if name in regs.backends else regs.backends.profiles.get(name, {}).get("backend")
    if not plugin:
        return None
    backend = regs.backends.get(plugin)(name, state.get("profile") or {})
    backend.plugin_name = plugin
    return backend


def engine_key(state: dict[str, Any]) -> tuple:
    """Runs with the same key were submitted to the same backend configuration (one query)."""
    return (state.get("backend"), state.get("backend_plugin"), repr(sorted((state.get("profile") or {}).items())))


def current_states(store, rids, regs, stored: dict[str, dict] | None = None) -> dict[str, dict[str, Any]]:
    """Each run's effective state, with one batched query per engine configuration. Job ends the
    engines report (failed, cancelled) are recorded in the store, since an engine may forget them.
    ``stored``: the states already read, by run id text (read here otherwise)."""
    from msc_neuro_cli.errors import NeuroError

    states = {str(rid): (stored or {}).get(str(rid)) or store.read_state(rid) for rid in rids}
    rid_of = {str(rid): rid for rid in rids}
    groups: dict[tuple, list[str]] = {}
    for key, state in states.items():
        if state.get("job_id") and state_of(state) in ACTIVE:
            groups.setdefault(engine_key(state), []).append(key)
    polled: dict[tuple, dict[str, JobStatus] | None] = {}
    for engine, members in groups.items():
        try:
            backend = backend_for(states[members[0]], regs)
            polled[engine] = backend.poll([states[m]["job_id"] for m in members]) if backend else None
        except NeuroError:
            polled[engine] = None  # engine unreachable (or backend gone): report the store's view only
    return {key: observe(store, rid_of[key], state, polled.get(engine_key(state)))
            for key, state in states.items()}


def observe(store, rid, state: dict[str, Any], polled: dict[str, JobStatus] | None) -> dict[str, Any]:
    """A run's effective state after an engine query; a job end the engine reports is recorded
    first (an engine may forget it, and the docker backend removes ended containers)."""
    status = (polled or {}).get(state.get("job_id")) if state_of(state) in ACTIVE else None
    if status is not None and job_ended(store, rid, state["job_id"], status):
        state = store.read_state(rid)
    return effective_state(state, polled)


class StoreReporter:
    """Records in the store what a blocking backend reports while its sweep runs
    (the core's :class:`msc_neuro_cli.runs.backend.JobReporter`)."""

    def __init__(self, store, rids: dict[str, Any]):
        self.store, self.rids = store, rids  # run id text -> RunId

    def started(self, run_id: str, job_id: str) -> None:
        job_started(self.store, self.rids[run_id], job_id)

    def ended(self, run_id: str, job_id: str, status: JobStatus) -> None:
        job_ended(self.store, self.rids[run_id], job_id, status)

    def wanted(self, run_id: str) -> bool:
        return state_of(self.store.read_state(self.rids[run_id])) != S.CANCELLED
