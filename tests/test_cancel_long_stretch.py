"""`neuro cancel` of a run whose next summary is far away: the worker stops within seconds (it
looks for a stop request between compiled calls of about two seconds, not only at summaries), the
run shows as cancelled, and a rerun resumes from an epoch-boundary checkpoint and finishes.

The schedule puts every epoch but the first and the last between two summaries, so a worker that
only stopped at summaries would train the whole run (about a minute or more here) before stopping."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from msc_neuro_cli.runs.checkpoint import load_checkpoint
from msc_neuro_cli.testing import neuro, wait_for

pytestmark = pytest.mark.slow

EPOCHS = 500_000  # tiny HSM epochs (3 steps, about 0.15 ms each): a minute or more in one stretch
STOP_BOUND_SECONDS = 20


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "msc_neuro_cli" in Path(f"/proc/{pid}/cmdline").read_text()


def _checkpoint_epoch(path: Path) -> int:
    loaded = load_checkpoint(path) if path.exists() else None
    return -1 if loaded is None else int(loaded[1]["epoch"])


def test_cancel_stops_a_long_stretch_within_seconds_and_a_rerun_resumes(tmp_path, tiny_manifest):
    tiny_manifest.write_text(tiny_manifest.read_text().replace("epochs: 6", f"epochs: {EPOCHS}")
                             .replace("summary_every: 3", f"summary_every: {EPOCHS}"))
    store = tmp_path / "training_data"
    args = ["run", "tiny", "--run", "0", "--manifest", str(tiny_manifest), "--store", str(store)]
    env = dict(os.environ, NEURO_CHECKPOINT_SECONDS="1", TF_CPP_MIN_LOG_LEVEL="2")
    run = subprocess.Popen([sys.executable, "-m", "msc_neuro_cli", *args], cwd=tmp_path, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    run_dir = store / "runs/testfolder/tinyx0"
    try:
        # Training is under way: a checkpoint written at an epoch boundary inside the stretch.
        wait_for("a checkpoint between summaries", lambda: _checkpoint_epoch(run_dir / "checkpoint.npz") > 1,
                 timeout=240)
        worker = int(json.loads((run_dir / "state.json").read_text())["pid"])
        cancelled_at = time.monotonic()
        neuro("cancel", "tiny", "--run", "0", "--store", str(store), cwd=tmp_path, check=True)
        wait_for("the worker to stop", lambda: not _alive(worker), timeout=120, every=0.1)
        assert time.monotonic() - cancelled_at < STOP_BOUND_SECONDS
        run.wait(timeout=60)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    stopped_at = _checkpoint_epoch(run_dir / "checkpoint.npz")
    assert 1 < stopped_at < EPOCHS - 1  # far from the next summary (the last epoch)
    status = json.loads(neuro("status", "--json", "--store", str(store), cwd=tmp_path, check=True).stdout)
    assert status[0]["state"] == "cancelled"

    finish = neuro(*args, cwd=tmp_path, env={"TF_CPP_MIN_LOG_LEVEL": "2"})
    assert finish.returncode == 0, finish.stdout + finish.stderr
    log = (store / "job_logs/testfolder/tiny/o_0.log").read_text()
    assert f"resuming repetitions [0, 1] from the checkpoint at epoch {stopped_at}" in log
    record = json.loads((run_dir / "record.json").read_text())
    assert [p["epoch"] for p in record["repetitions"][0]["curve"]] == [0, EPOCHS - 1]
    assert not np.isnan(record["val_correlation"]["median"])
