"""An Optuna search of tiny trials through the real CLI and the local backend: interrupted while a
trial's worker runs, resumed with more trials, ending with exactly the requested number of
distinct trial runs, each ledgered once, and `neuro status --json` naming the best of them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from msc_neuro_cli.api import LEDGER_NAME, FinishedTrial, RunId, RunStore, ledger_entries, load_manifest
from msc_neuro_cli.api.testing import neuro, wait_for, write_tiny_dataset
from neuro_optuna.samplers import RandomSearch

pytestmark = pytest.mark.slow

MANIFEST = """\
version: 1
experiments:
  tiny_search:
    folder: searches
    name: "hsm_u{units}"
    dataset: {name: antolik2016, path: data, regions: [1], preprocess: {inputs: zscore}}
    model:
      - {component: diff_of_gaussians, units: "${units}"}
      - {component: normal, units: "${hidden}N", activation: softplus}
      - {component: normal, units: N, activation: softplus}
    training: {epochs: 2, batch_size: 16, summary_every: 1, xla: false, learning_rate: "${lr}"}
    repetitions: 1
    search:
      sampler: random
      trials: 2
      seed: 7
      space:
        lr: {low: 1.0e-3, high: 3.0e-2, log: true}
        units: {low: 2, high: 4}
        hidden: {choices: [0.5, 1.0]}
"""


def _trial(store: RunStore, t: int) -> RunId:
    return RunId("searches", f"tiny_searchx{t}", t, "tiny_search")


def _state(store: RunStore, t: int) -> str:
    return store.read_state(_trial(store, t))["state"]


def test_an_interrupted_search_resumes_and_ends_with_the_requested_trials(tmp_path):
    write_tiny_dataset(tmp_path / "data")
    (tmp_path / "experiments.yaml").write_text(MANIFEST)
    store = RunStore(tmp_path / "training_data")
    gate = tmp_path / "gate"
    gate.touch()  # every worker waits at its claim while the gate exists (NEURO_PAUSE_AT)
    env = dict(os.environ, NEURO_PAUSE_AT=f"claimed:{gate}")
    proc = subprocess.Popen([sys.executable, "-m", "msc_neuro_cli", "run", "tiny_search"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        reached = Path(f"{gate}.reached")
        wait_for("trial 0's worker", reached.exists)
        reached.unlink()
        gate.unlink()  # trial 0 trains ...
        wait_for("trial 0 to leave its gate", lambda: _state(store, 0) != "queued")
        gate.touch()  # ... and trial 1's worker waits: interrupt the search there, like Ctrl-C
        wait_for("trial 1's worker", reached.exists)
        assert _state(store, 0) == "finished"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out + err
    assert "trial 0 (1 of 2" in err and "trial 1 (2 of 2" in err  # progress on stderr ...
    assert "trial 0" not in out  # ... not on stdout
    interrupted = store.read_spec(_trial(store, 1))
    assert _state(store, 1) != "finished" and interrupted["search"]["trial"] == 1

    # resumed with more trials (an override of the search block): trial 1 keeps its parameters
    gate.unlink()
    done = neuro("run", "tiny_search", "-o", "search.trials=3", cwd=tmp_path, check=True)
    assert "trial 0 (" not in done.stderr and "trial 1 (2 of 3" in done.stderr and "trial 2 (3 of 3" in done.stderr
    specs = [store.read_spec(_trial(store, t)) for t in range(3)]
    assert specs[1]["hyperparameters"] == interrupted["hyperparameters"]
    assert specs[1]["spec_hash"] == interrupted["spec_hash"]

    # exactly three distinct trial runs, each finished and ledgered once
    runs = [rid for rid in store.run_ids() if store.read_spec(rid)["experiment"] == "tiny_search"]
    assert sorted(str(r) for r in runs) == [str(_trial(store, t)) for t in range(3)]
    assert all(_state(store, t) == "finished" for t in range(3))
    params = [spec["hyperparameters"] for spec in specs]
    assert len({json.dumps(p, sort_keys=True) for p in params}) == 3
    for p in params:
        assert type(p["lr"]) is float and 1e-3 <= p["lr"] <= 3e-2
        assert type(p["units"]) is int and 2 <= p["units"] <= 4 and p["hidden"] in (0.5, 1.0)
    for spec, p in zip(specs, params):  # the parameters reached the model and the name like grid values
        assert spec["training"]["learning_rate"] == p["lr"] and spec["name"] == f"hsm_u{p['units']}"
        assert spec["model"][0]["params"]["units"] == p["units"]
    ledger = ledger_entries(store.root / LEDGER_NAME)
    for t, spec in enumerate(specs):
        assert ledger.count(f"searches/tiny_searchx{t}/{spec['name']}") == 1, ledger

    # the store is the study: trial 2 is what the sampler proposes from trials 0 and 1 as stored
    values = [float(np.median([r["val_correlation"] for r in store.finished_reps(_trial(store, t)).values()]))
              for t in range(3)]
    search = load_manifest(tmp_path / "experiments.yaml").get("tiny_search").search
    history = [FinishedTrial(t, params[t], values[t]) for t in range(2)]
    assert RandomSearch(search).suggest(2, history) == params[2]

    # status: the best trial so far is the maximum over the stored records
    status = json.loads(neuro("status", "tiny_search", "--json", cwd=tmp_path, check=True).stdout)
    best = [row for row in status if row["search"] and row["search"]["best"]]
    assert len(best) == 1 and len(status) == 3
    top = int(np.argmax(values))
    assert best[0]["run_id"] == str(_trial(store, top)) and best[0]["search"]["trial"] == top
    assert best[0]["search"]["value"] == pytest.approx(values[top], abs=1e-12)
    assert best[0]["search"]["parameters"] == params[top] and best[0]["search"]["metric"] == "val_correlation"
    text = neuro("status", "tiny_search", cwd=tmp_path, env={"COLUMNS": "200"}, check=True).stdout
    assert f"best trial of tiny_search (3 finished): trial {top}" in text

    # nothing left: a rerun trains nothing and adds no run
    again = neuro("run", "tiny_search", "-o", "search.trials=3", cwd=tmp_path, check=True)
    assert "nothing to do: all 3 trials" in again.stdout and f"best trial of tiny_search: {top}" in again.stdout
    assert len(ledger_entries(store.root / LEDGER_NAME)) == len(ledger)
    dry = neuro("run", "tiny_search", "--dry-run", "-o", "search.trials=5", cwd=tmp_path, check=True).stdout
    assert "finished trials: 3" in dry and "would run 2 more trial(s)" in dry


def test_a_failed_trial_is_told_as_failed_and_the_search_goes_on(tmp_path):
    write_tiny_dataset(tmp_path / "data")
    absurd = MANIFEST.replace("lr: {low: 1.0e-3, high: 3.0e-2, log: true}", "lr: {low: 1.0e+29, high: 1.0e+30, log: true}")
    (tmp_path / "experiments.yaml").write_text(absurd.replace("epochs: 2,", "epochs: 1,"))
    proc = neuro("run", "tiny_search", cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # like a grid with failed runs
    assert "trial 1 (2 of 2" in proc.stderr and proc.stdout.count("the search goes on") == 2
    store = RunStore(tmp_path / "training_data")
    assert [_state(store, t) for t in range(2)] == ["failed", "failed"]
    assert "diverged" in store.read_state(_trial(store, 0))["error"]
    status = json.loads(neuro("status", "tiny_search", "--json", cwd=tmp_path, check=True).stdout)
    assert [(row["search"]["value"], row["search"]["best"]) for row in status] == [(None, False), (None, False)]


def test_an_unknown_sampler_names_the_installed_ones_and_dry_run_trains_nothing(tmp_path):
    write_tiny_dataset(tmp_path / "data")
    (tmp_path / "experiments.yaml").write_text(MANIFEST.replace("sampler: random", "sampler: cmaes"))
    proc = neuro("run", "tiny_search", "--dry-run", cwd=tmp_path)
    line = proc.stderr.strip()
    assert proc.returncode == 2 and "\n" not in line, proc.stdout + proc.stderr
    assert "experiments.tiny_search.search.sampler: unknown sampler 'cmaes' (available: random, tpe)" in line
    (tmp_path / "experiments.yaml").write_text(MANIFEST)
    dry = neuro("run", "tiny_search", "--dry-run", cwd=tmp_path, check=True).stdout
    assert "random search, 2 trials, maximize val_correlation over lr float 0.001..0.03 log" in dry
    assert "would run 2 more trial(s)" in dry and not (tmp_path / "training_data" / "runs").exists()
