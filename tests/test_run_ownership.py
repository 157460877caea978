"""One owner per run: two workers on one run, or two `neuro run` started at once, never train it
twice; each pair is held at its race window with NEURO_PAUSE_AT (a gate file)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from msc_neuro_cli.testing import TINY_MANIFEST, neuro, write_tiny_dataset

RUN = "testfolder/tinyx0"


def _setup(tmp_path: Path) -> Path:
    data = write_tiny_dataset(tmp_path / "data")
    (tmp_path / "experiments.yaml").write_text(TINY_MANIFEST.format(data=data))
    return tmp_path / "training_data"


def _start(tmp_path: Path, *args: str, pause: str | None = None) -> subprocess.Popen:
    env = dict(os.environ, NEURO_PAUSE_AT=pause or "")
    return subprocess.Popen([sys.executable, "-m", "msc_neuro_cli", *args], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.1)


def _event_files(store: Path) -> list[Path]:
    return sorted((store / "logs" / RUN).glob("*/summaries/*/events.*"))


def test_second_worker_on_a_claimed_run_exits_naming_the_holder(tmp_path):
    store = _setup(tmp_path)
    # the run's spec, planned as `neuro run` does, without a sweep: the workers are started by hand
    from msc_neuro_cli.plugin_system.manager import registries
    from msc_neuro_cli.spec.manifest import load_manifest
    from msc_neuro_cli.spec.plan import plan_experiment
    from msc_neuro_cli.store.run_store import RunStore

    plan = plan_experiment(load_manifest(tmp_path / "experiments.yaml").get("tiny"), registries())[0]
    RunStore(store).write_spec(plan.run_id, plan.spec)
    gate = tmp_path / "gate"
    gate.touch()
    first = _start(tmp_path, "worker", RUN, pause=f"claimed:{gate}")
    _wait_for(Path(f"{gate}.reached"), first)               # the first worker holds the claim
    second = neuro("worker", RUN, cwd=tmp_path, timeout=120)
    assert second.returncode == 0, second.stderr
    assert f"run {RUN} is already being trained by pid {first.pid} on host" in second.stderr
    assert len(second.stderr.strip().splitlines()) == 1
    assert not (store / "logs" / RUN).exists()              # the second one wrote nothing
    gate.unlink()
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert len(_event_files(store)) == 2 * 2                 # 2 repetitions x (train, test), once
    assert '"state": "finished"' in (store / "runs" / RUN / "state.json").read_text()


def test_two_sweeps_started_at_once_train_each_run_once(tmp_path):
    store = _setup(tmp_path)
    gate = tmp_path / "gate"
    gate.touch()
    first = _start(tmp_path, "run", "tiny", "--run", "0", pause=f"selected:{gate}")
    _wait_for(Path(f"{gate}.reached"), first)               # the first sweep has selected the run
    gate2 = tmp_path / "gate2"
    gate2.touch()
    second = _start(tmp_path, "run", "tiny", "--run", "0", pause=f"selecting:{gate2}")
    _wait_for(Path(f"{gate2}.reached"), second)              # the second is about to select
    gate2.unlink()
    time.sleep(1)                                            # ... and does, while the first holds it
    gate.unlink()
    out1, err1 = first.communicate(timeout=300)
    out2, err2 = second.communicate(timeout=300)
    assert first.returncode == 0, err1
    assert second.returncode == 0, err2
    assert "nothing to do" in out2, out2                     # the second found it queued or running
    assert len(_event_files(store)) == 2 * 2
    assert (store / "experiments.txt").read_text().split() == ["testfolder/tinyx0/hsm_h0.5"]
