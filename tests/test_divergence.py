"""Divergence is a failure: a NaN or infinite loss ends the run `failed` ("diverged at epoch E")
with no record and no ledger line; non-finite or out-of-range optimiser keys are refused when
the manifest is validated, naming the key."""

from __future__ import annotations

import json

import pytest

from msc_neuro_cli.testing import TINY_MANIFEST, neuro, write_tiny_dataset


def _manifest(tmp_path, learning_rate: str, extra: str = "") -> None:
    data = write_tiny_dataset(tmp_path / "data")
    text = TINY_MANIFEST.format(data=data).replace("learning_rate: 1.0e-3", f"learning_rate: {learning_rate}{extra}")
    (tmp_path / "experiments.yaml").write_text(text)


def test_an_absurd_learning_rate_fails_the_run_as_diverged(tmp_path):
    _manifest(tmp_path, "1.0e+30")  # 1e6 stays finite (huge) on this model
    proc = neuro("run", "tiny", "--run", "0", cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    store = tmp_path / "training_data"
    state = json.loads((store / "runs/testfolder/tinyx0/state.json").read_text())
    assert state["state"] == "failed" and "diverged at epoch" in state["error"], state
    assert not (store / "runs/testfolder/tinyx0/record.json").exists()
    assert not (store / "experiments.txt").exists() or not (store / "experiments.txt").read_text().strip()
    assert "diverged at epoch" in proc.stdout
    row = json.loads(neuro("status", "--json", cwd=tmp_path, check=True).stdout)[0]
    assert row["state"] == "failed" and "diverged at epoch" in row["error"]


@pytest.mark.parametrize("value, extra, key", [
    (".nan", "", "learning_rate"), (".inf", "", "learning_rate"), ("0", "", "learning_rate"),
    ("1.0e-3", ", beta1: 5", "beta1"), ("1.0e-3", ", beta2: 1.0", "beta2"),
    ("1.0e-3", ", epsilon: -1.0", "epsilon"), ("1.0e-3", ", beta1: .nan", "beta1"),
])
def test_bad_optimiser_values_are_refused_with_the_key(tmp_path, value, extra, key):
    _manifest(tmp_path, value, extra)
    proc = neuro("run", "tiny", "--dry-run", cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"training.{key}" in proc.stderr and proc.stderr.strip().count("\n") == 0, proc.stderr
    assert not (tmp_path / "training_data").exists()
