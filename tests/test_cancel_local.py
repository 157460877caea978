"""`neuro cancel` of a local sweep: `neuro run` trains in the background (a session of its own, as
from another terminal) and `neuro cancel` from another process stops its worker; the run shows as
"cancelled", and the sweep ends without starting its pending run (cancelled too)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from msc_neuro_cli.testing import TINY_MANIFEST, neuro, wait_for

pytestmark = pytest.mark.slow


def read_state(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def is_neuro_worker(pid: int) -> bool:
    """Guard against pid reuse: only ever kill a process that is still a neuro worker."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"msc_neuro_cli" in cmdline and b"worker" in cmdline


def first_worker_training(work: Path) -> dict:
    """The first run's state once its worker has trained a few epochs."""
    first = work / "training_data/runs/testfolder/tinyx0/state.json"
    return wait_for("the first worker to train",
                    lambda: (s := read_state(first)).get("state") == "running" and s.get("epoch", 0) >= 3 and s,
                    timeout=120)


@pytest.fixture
def background_sweep(tmp_path, tiny_data):
    """`neuro run tiny` (2 long runs, one at a time) started in its own session; killed at the end."""
    (tmp_path / "experiments.yaml").write_text(
        TINY_MANIFEST.format(data=tiny_data).replace("epochs: 6", "epochs: 100000"))
    log = open(tmp_path / "run.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "msc_neuro_cli", "run", "tiny", "--jobs", "1"], cwd=tmp_path,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    yield proc
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    log.close()
    for state in (tmp_path / "training_data/runs").glob("*/*/state.json"):   # workers have sessions of their own
        pid = read_state(state).get("pid")
        if pid and alive(int(pid)) and is_neuro_worker(int(pid)):
            os.kill(int(pid), signal.SIGKILL)


def test_cancel_stops_a_local_sweep(tmp_path, background_sweep):
    runs = tmp_path / "training_data/runs/testfolder"
    state = first_worker_training(tmp_path)
    worker = int(state["pid"])
    assert state["job_id"].endswith(f":{worker}") and alive(worker)
    rows = {r["run_id"]: r for r in json.loads(neuro("status", "--json", cwd=tmp_path, check=True).stdout)}
    assert (rows["testfolder/tinyx0"]["state"], rows["testfolder/tinyx0"]["backend"]) == ("running", "local")
    assert rows["testfolder/tinyx1"]["state"] == "queued"            # waiting for a free slot (--jobs 1)

    out = neuro("cancel", "tiny", cwd=tmp_path, check=True).stdout
    assert "cancelled 2 runs" in out and "testfolder/tinyx0" in out and "testfolder/tinyx1" in out
    wait_for("the worker to stop", lambda: not alive(worker), timeout=60)
    time.sleep(0.5)                                                 # `neuro run` notices its worker ended
    rows = {r["run_id"]: r for r in json.loads(neuro("status", "--json", cwd=tmp_path, check=True).stdout)}
    assert [rows[r]["state"] for r in sorted(rows)] == ["cancelled", "cancelled"], rows
    assert "neuro cancel" in rows["testfolder/tinyx0"]["error"]
    wait_for("the sweep to end", lambda: background_sweep.poll() is not None, timeout=30)  # nothing left to run
    assert background_sweep.returncode > 0, (tmp_path / "run.log").read_text()
    assert not read_state(runs / "tinyx1/state.json").get("job_id"), "the pending run was started anyway"
    assert all(r["state"] == "cancelled" for r in json.loads(neuro("status", "--json", cwd=tmp_path).stdout))
    assert not (tmp_path / "training_data/experiments.txt").exists()


def test_ctrl_c_while_following_workers_sets_a_flag_instead_of_raising():
    """The local backend's polling loop turns Ctrl-C into a flag it checks between polls: a
    KeyboardInterrupt raised wherever the loop happened to be (inside the progress view's lock)
    could hang the command on exit instead of forwarding the interrupt to the workers."""
    from neuro_local.backend import _ctrl_c_as_flag

    before = signal.getsignal(signal.SIGINT)
    with _ctrl_c_as_flag() as ctrl_c:
        assert not ctrl_c.pressed
        os.kill(os.getpid(), signal.SIGINT)  # no KeyboardInterrupt here
        wait_for("the flag", lambda: ctrl_c.pressed, timeout=5)
    assert signal.getsignal(signal.SIGINT) is before  # Ctrl-C raises again afterwards


def test_a_second_ctrl_c_does_not_cut_short_the_wait_for_the_workers(tmp_path, background_sweep):
    """Two SIGINTs in quick succession (an impatient user, or a wrapper such as `timeout` passing on
    its own): `neuro run` still waits for its worker to checkpoint and end before it exits."""
    state_file = tmp_path / "training_data/runs/testfolder/tinyx0/state.json"
    state = first_worker_training(tmp_path)
    worker = int(state["pid"])
    os.kill(background_sweep.pid, signal.SIGINT)
    time.sleep(0.3)  # the first is being forwarded; the worker is checkpointing
    os.kill(background_sweep.pid, signal.SIGINT)
    background_sweep.wait(timeout=150)
    assert not alive(worker), "neuro run exited while its worker was still running"
    assert background_sweep.returncode == 130, (tmp_path / "run.log").read_text()
    assert read_state(state_file)["state"] == "interrupted"
