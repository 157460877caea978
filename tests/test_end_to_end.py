"""The whole tool through its CLI on a tiny real experiment: run, store layout, ledger, status,
export, rerun, and a worker killed mid-training that resumes."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from msc_neuro_cli.testing import neuro

pytestmark = pytest.mark.slow


def _events(folder: Path) -> dict[str, list[int]]:
    """Steps per tag, read the way the thesis pipeline's TF1 reader did (``simple_value`` of each event)."""
    import tensorflow as tf
    steps: dict[str, list[int]] = {}
    for path in sorted(folder.glob("events*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                assert value.HasField("simple_value")
                steps.setdefault(value.tag, []).append(event.step)
    return steps


def test_run_writes_seed_layout_and_status_export_rerun(tmp_path, tiny_manifest, tiny_data):
    store = tmp_path / "training_data"
    proc = neuro("run", "t", "--jobs", "2", "--manifest", str(tiny_manifest), "--store", str(store),
                 cwd=tmp_path, env={"COLUMNS": "200"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "testfolder/tinyx0" in proc.stdout and "median" in proc.stdout

    ledger = (store / "experiments.txt").read_text().splitlines()
    assert sorted(ledger) == ["testfolder/tinyx0/hsm_h0.5", "testfolder/tinyx1/hsm_h1.0"]
    for run, name in ((0, "hsm_h0.5"), (1, "hsm_h1.0")):
        assert (store / "job_logs" / "testfolder" / "tiny" / f"o_{run}.log").exists()
        assert (store / "job_logs" / "testfolder" / "tiny" / f"e_{run}.log").exists()
        for rep in (0, 1):
            logdir = store / "logs" / "testfolder" / f"tinyx{run}" / f"{name}__{rep}" / "summaries"
            for split in ("train", "test"):
                steps = _events(logdir / split)["loss/correlation/correlation"]
                assert steps == [0, 2, 5]  # epoch 0, every 3rd epoch (e % 3 == 2), and the last
            assert (store / "models" / "testfolder" / f"tinyx{run}" / f"{name}__{rep}.keras").exists()
        record = json.loads((store / "runs" / "testfolder" / f"tinyx{run}" / "record.json").read_text())
        assert record["seeds"] == [0, 1] and record["hyperparameters"] == {"hidden": [0.5, 1.0][run]}
        assert record["val_correlation"]["n"] == 2
        assert len(record["repetitions"][0]["val_correlation_per_neuron"]) == 6
        assert "tensorflow" in record["versions"]

    # saved models reload with plain keras once plugins are imported and predict like the record
    check = subprocess.run([sys.executable, "-c", f"""
import numpy as np, keras
from msc_neuro_cli.store.saved_models import register_all_layers; register_all_layers()
from msc_neuro_cli.metrics.correlation import per_neuron_correlation, mean_correlation
m = keras.models.load_model({str(store / 'models/testfolder/tinyx0/hsm_h0.5__1.keras')!r})
x = np.load({str(tiny_data / 'Data/region1/validation_inputs.npy')!r})
x = ((x - np.load({str(tiny_data / 'Data/region1/training_inputs.npy')!r}).mean()) /
     np.load({str(tiny_data / 'Data/region1/training_inputs.npy')!r}).std()).astype('float32')
y = np.load({str(tiny_data / 'Data/region1/validation_set.npy')!r})
print(mean_correlation(per_neuron_correlation(y, m.predict(x, verbose=0))))
"""], capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert check.returncode == 0, check.stderr
    rep1 = json.loads((store / "runs/testfolder/tinyx0/reps/1.json").read_text())
    assert float(check.stdout.strip().splitlines()[-1]) == pytest.approx(rep1["val_correlation"], abs=1e-4)

    status = neuro("status", "tiny", "--json", "--store", str(store), cwd=tmp_path, check=True)
    rows = json.loads(status.stdout)
    assert [(r["run_id"], r["state"], r["reps_done"]) for r in rows] == [
        ("testfolder/tinyx0", "finished", 2), ("testfolder/tinyx1", "finished", 2)]

    export = neuro("export-metrics", "tiny", "--format", "csv", "--store", str(store), cwd=tmp_path, check=True)
    table = list(csv.DictReader(io.StringIO(export.stdout)))
    assert len(table) == 4 and {r["hp_hidden"] for r in table} == {"0.5", "1.0"}
    assert all(-1 <= float(r["val_correlation"]) <= 1 for r in table)
    per_neuron = neuro("export-metrics", "--format", "json", "--per-neuron", "--store", str(store),
                       cwd=tmp_path, check=True)
    assert len(json.loads(per_neuron.stdout)) == 4 * 6

    before = (store / "runs/testfolder/tinyx0/record.json").stat().st_mtime_ns
    again = neuro("run", "tiny", "--manifest", str(tiny_manifest), "--store", str(store), cwd=tmp_path, check=True)
    assert "nothing to do" in again.stdout
    assert (store / "runs/testfolder/tinyx0/record.json").stat().st_mtime_ns == before
    assert len((store / "experiments.txt").read_text().splitlines()) == 2


def test_killed_worker_resumes_from_checkpoint(tmp_path, tiny_manifest):
    text = tiny_manifest.read_text().replace("epochs: 6", "epochs: 4000").replace("summary_every: 3", "summary_every: 20")
    tiny_manifest.write_text(text)
    store = tmp_path / "training_data"
    env = dict(os.environ, NEURO_CHECKPOINT_SECONDS="0", TF_CPP_MIN_LOG_LEVEL="2")
    run = subprocess.Popen([sys.executable, "-m", "msc_neuro_cli", "run", "tiny", "--run", "0",
                            "--manifest", str(tiny_manifest), "--store", str(store)], cwd=tmp_path, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    state_file = store / "runs/testfolder/tinyx0/state.json"
    checkpoint = store / "runs/testfolder/tinyx0/checkpoint.npz"
    deadline = time.time() + 240
    while time.time() < deadline:
        if checkpoint.exists() and state_file.exists() and json.loads(state_file.read_text()).get("epoch", 0) >= 100:
            break
        time.sleep(0.5)
    else:
        os.killpg(run.pid, signal.SIGKILL)
        pytest.fail("worker never checkpointed")
    worker_pid = json.loads(state_file.read_text())["pid"]
    os.kill(worker_pid, signal.SIGKILL)  # the worker dies without any clean-up...
    os.killpg(run.pid, signal.SIGKILL)   # ...and so does the CLI that started it
    run.wait()
    killed_at = json.loads(state_file.read_text())["epoch"]
    assert killed_at < 4000

    status = json.loads(neuro("status", "--json", "--store", str(store), cwd=tmp_path, check=True).stdout)
    assert status[0]["state"] == "lost"

    finish = neuro("run", "tiny", "--run", "0", "--manifest", str(tiny_manifest), "--store", str(store),
                   cwd=tmp_path, env={"NEURO_CHECKPOINT_SECONDS": "0"})
    assert finish.returncode == 0, finish.stdout + finish.stderr
    log = (store / "job_logs/testfolder/tiny/o_0.log").read_text()
    assert "resuming repetitions [0, 1] from the checkpoint at epoch" in log
    resumed_epoch = int(log.split("checkpoint at epoch ")[1].split()[0])
    assert 0 < resumed_epoch <= 4000
    record = json.loads((store / "runs/testfolder/tinyx0/record.json").read_text())
    curve_epochs = [p["epoch"] for p in record["repetitions"][0]["curve"]]
    assert curve_epochs == sorted(set(curve_epochs)) and curve_epochs[-1] == 3999
    assert (store / "experiments.txt").read_text().splitlines() == ["testfolder/tinyx0/hsm_h0.5"]
    assert not np.isnan(record["val_correlation"]["median"])


def test_ctrl_c_interrupts_cleanly(tmp_path, tiny_manifest):
    # Far more epochs than the test waits for: the tiny run must still be training when Ctrl-C
    # comes (4000 took 13 s on a CI machine, and finished before the interrupt).
    tiny_manifest.write_text(tiny_manifest.read_text().replace("epochs: 6", "epochs: 400000")
                             .replace("summary_every: 3", "summary_every: 20"))
    store = tmp_path / "training_data"
    run = subprocess.Popen([sys.executable, "-m", "msc_neuro_cli", "run", "tiny", "--run", "1",
                            "--manifest", str(tiny_manifest), "--store", str(store)], cwd=tmp_path,
                           env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, start_new_session=True)
    state_file = store / "runs/testfolder/tinyx1/state.json"
    deadline = time.time() + 240
    while time.time() < deadline:
        if state_file.exists() and json.loads(state_file.read_text()).get("epoch", 0) >= 40:
            break
        time.sleep(0.3)
    os.killpg(run.pid, signal.SIGINT)  # what a terminal's Ctrl-C sends to the foreground group
    out, _ = run.communicate(timeout=180)
    assert run.returncode == 130, out
    assert "interrupted" in out
    state = json.loads(state_file.read_text())
    assert state["state"] == "interrupted"
    assert (store / "runs/testfolder/tinyx1/checkpoint.npz").exists()
    assert not (store / "experiments.txt").exists()
    status = json.loads(neuro("status", "--json", "--store", str(store), cwd=tmp_path, check=True).stdout)
    assert status[0]["state"] == "interrupted"
