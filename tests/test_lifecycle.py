"""The run lifecycle (runs/lifecycle.py): one set of states, the moves between them enforced by
the store, the effective state, and the recorded backend profile that status and cancel reuse."""

from __future__ import annotations

import json
import os

import pytest

from msc_neuro_cli.plugin_system.manager import registries
from msc_neuro_cli.runs import lifecycle
from msc_neuro_cli.runs.lifecycle import ACTIVE, RETRYABLE, TERMINAL, JobStatus, RunState, allowed
from msc_neuro_cli.runs.profiles import resolve_backend
from msc_neuro_cli.spec.manifest import Manifest
from msc_neuro_cli.store.run_store import RunId, RunStore

RID = RunId("f", "ex0", 0, "ex")


def test_states_keep_their_stored_strings():
    """state.json files written before the enumeration still read (same strings)."""
    assert [s.value for s in RunState] == ["planned", "queued", "running", "finished", "failed",
                                           "interrupted", "cancelled", "lost"]
    assert RunState("cancelled") is RunState.CANCELLED and RunState.FAILED == "failed"
    assert f"{RunState.LOST}" == "lost" and json.dumps({"state": RunState.QUEUED}) == '{"state": "queued"}'
    assert ACTIVE | TERMINAL | {RunState.PLANNED} == set(RunState) and not ACTIVE & TERMINAL
    assert RETRYABLE == TERMINAL - {RunState.FINISHED}


@pytest.mark.parametrize("current, new, ok", [
    ("planned", "queued", True), ("queued", "running", True), ("running", "finished", True),
    ("failed", "queued", True), ("lost", "queued", True), ("running", "queued", True),
    ("cancelled", "running", False), ("cancelled", "interrupted", False), ("cancelled", "failed", False),
    ("cancelled", "finished", True), ("finished", "failed", False), ("finished", "lost", False),
    ("planned", "finished", False), ("failed", "failed", True),
])
def test_transitions(current, new, ok):
    assert allowed(current, new) is ok


def test_the_store_drops_moves_the_lifecycle_refuses(tmp_path):
    store = RunStore(tmp_path)
    assert store.read_state(RID)["state"] == "planned"
    store.update_state(RID, state="queued", job_id="7")
    store.update_state(RID, state=RunState.CANCELLED)
    state = store.update_state(RID, state="running", pid=123)   # a worker starting after `neuro cancel`
    assert (state["state"], state["pid"]) == ("cancelled", 123)
    raw = json.loads((store.run_dir(RID) / "state.json").read_text())
    assert raw["state"] == "cancelled" and isinstance(raw["state"], str)
    with pytest.raises(ValueError, match="unknown run state 'done'"):
        store.update_state(RID, state="done")


def test_effective_state(tmp_path):
    queued = {"state": "queued", "job_id": "1"}
    assert lifecycle.effective_state(queued, None)["state"] == "queued"        # engine not asked
    assert lifecycle.effective_state(queued, {})["state"] == "lost"            # engine forgot the job
    assert lifecycle.effective_state(queued, {"1": JobStatus("running")})["state"] == "running"
    failed = lifecycle.effective_state(queued, {"1": JobStatus("failed", 137, "OOM")})
    assert (failed["state"], failed["exit_code"], failed["error"]) == ("failed", 137, "OOM")
    dead = {"state": "running", "host": os.uname().nodename, "pid": 2 ** 22 + 12345}
    assert lifecycle.effective_state(dead)["state"] == "lost"
    with pytest.raises(ValueError):
        JobStatus("done")


def test_job_ends_are_recorded_only_for_the_job_the_run_waits_for(tmp_path):
    store = RunStore(tmp_path)
    store.update_state(RID, state="queued", job_id="9")
    assert not lifecycle.job_ended(store, RID, "8", JobStatus("failed", 1, "old job"))
    assert not lifecycle.job_ended(store, RID, "9", JobStatus("finished", 0))   # the worker records success
    assert lifecycle.job_ended(store, RID, "9", JobStatus("failed", 3, "exit 3"))
    state = store.read_state(RID)
    assert (state["state"], state["exit_code"], state["error"]) == ("failed", 3, "exit 3")
    assert not lifecycle.job_ended(store, RID, "9", JobStatus("cancelled"))     # already over


def test_submission_is_recorded_once_the_job_exists(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURO_PROFILES", str(tmp_path / "none.yaml"))
    store = RunStore(tmp_path)
    backend = resolve_backend("slurm-cpu", Manifest(tmp_path / "m.yaml", {}, {}, {}), registries())
    store.update_state(RID, state="failed", error="earlier failure", exit_code=1)
    before = store.read_state(RID)
    lifecycle.submitted(store, RID, backend, "41_0", before)
    state = store.read_state(RID)
    assert (state["state"], state["job_id"], state["error"], state["backend_plugin"]) == ("queued", "41_0", None, "slurm")
    assert state["profile"] == backend.profile and state["profile"]["cores"] == 4
    # a job whose worker wrote its state before the CLI recorded the submission keeps that state
    other = RunId("f", "ex1", 1, "ex")
    before = store.read_state(other)
    store.update_state(other, state="running", pid=1)
    lifecycle.submitted(store, other, backend, "41_1", before)
    assert (store.read_state(other)["state"], store.read_state(other)["job_id"]) == ("running", "41_1")


def test_a_held_run_that_never_started_goes_back(tmp_path):
    store = RunStore(tmp_path)
    store.update_state(RID, state="failed", error="why", backend="slurm")
    before = store.read_state(RID)

    class Local:
        name = plugin_name = "local"
        profile = {"threads": 0}
    lifecycle.hold(store, RID, Local())
    assert store.read_state(RID)["state"] == "queued"
    lifecycle.release(store, RID, before)
    state = store.read_state(RID)
    assert (state["state"], state["error"], state["backend"]) == ("failed", "why", "slurm")
    lifecycle.hold(store, RID, Local())
    lifecycle.job_started(store, RID, "local:h:1")
    lifecycle.release(store, RID, before)                    # started: not rolled back
    assert store.read_state(RID)["state"] == "queued"


def test_status_and_cancel_rebuild_the_recorded_profile(tmp_path):
    regs = registries()
    recorded = {"backend": "long", "backend_plugin": "slurm",
                "profile": {"cores": 3, "partition": "debug", "memory": "2G"}}
    backend = lifecycle.backend_for(recorded, regs)
    assert type(backend).__name__ == "SlurmBackend" and backend.name == "long"
    assert backend.profile["cores"] == 3 and backend.profile["partition"] == "debug"
    assert backend.profile == type(backend).resolve_profile("long", recorded["profile"])
    # a state stored before profiles were recorded: the named profile's backend, its defaults
    old = lifecycle.backend_for({"backend": "qsub-cpu"}, regs)
    assert type(old).__name__ == "SgeBackend" and old.profile["cores"] == 1
    assert lifecycle.backend_for({"backend": None}, regs) is None


def test_an_unknown_stored_state_is_named_and_can_be_overwritten(tmp_path):
    from msc_neuro_cli.errors import StoreError
    store = RunStore(tmp_path)
    store.run_dir(RID).mkdir(parents=True)
    (store.run_dir(RID) / "state.json").write_text('{"state": "exploded"}')
    with pytest.raises(StoreError, match="unknown run state 'exploded'"):
        lifecycle.state_of(store.read_state(RID))
    assert store.update_state(RID, state="failed")["state"] == "failed"
