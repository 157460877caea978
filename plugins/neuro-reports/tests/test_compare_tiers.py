"""``neuro compare`` on datasets with tiers: the test tier's scores when every run has them."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from msc_neuro_cli.api import RunId, RunStore
from msc_neuro_cli.api.testing import cli_main

# run -> per repetition (validation r, test r, single-trial r, FEVE, fraction of oracle)
SCORES = {
    "hsm": [(0.50, 0.40, 0.30, 0.35, 0.50), (0.52, 0.42, 0.31, 0.36, 0.52), (0.51, 0.41, 0.32, 0.34, 0.51)],
    "cnn": [(0.45, 0.60, 0.45, 0.55, 0.70), (0.44, 0.62, 0.46, 0.56, 0.72), (0.46, 0.61, 0.44, 0.57, 0.71)],
}


def _write_run(store: RunStore, run: int, name: str, with_test: bool = True) -> RunId:
    rid = RunId("field", f"cmpx{run}", run, "cmp")
    store.write_spec(rid, {"experiment": "cmp", "folder": "field", "exp": f"cmpx{run}", "run": run, "name": name,
                           "hyperparameters": {"model": name}, "training": {"epochs": 3}, "seeds": [0, 1, 2],
                           "dataset": {"name": "static", "params": {"path": "no-data"}, "base_dir": str(store.root)}})
    for rep, (val, test, single, feve, foo) in enumerate(SCORES[name]):
        result = {"seed": rep, "val_correlation": val, "seconds": 10.0 + rep, "epochs": 3,
                  "curve": [{"epoch": e, "loss": 1.0, "val_correlation": val} for e in range(3)]}
        if with_test:
            result["test"] = {"correlation": test, "single_trial_correlation": single, "feve": feve,
                              "fraction_of_oracle": foo}
        store.write_rep(rid, rep, result)
    store.update_state(rid, state="finished")
    return rid


def _compare(store_root, *args):
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            cli_main(["compare", "cmp", "--store", str(store_root), "--manifest", "none.yaml", *args])
        except SystemExit as exc:
            code = exc.code or 0
    return code, out.getvalue(), err.getvalue()


@pytest.fixture()
def store(tmp_path):
    store = RunStore(tmp_path / "store")
    _write_run(store, 0, "hsm")
    _write_run(store, 1, "cnn")
    return store


def test_compare_uses_the_test_tier_when_every_run_has_it(store):
    code, out, err = _compare(store.root, "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert [r["name"] for r in rows] == ["cnn", "hsm"]  # on validation the HSM would come first
    for row in rows:
        columns = list(zip(*SCORES[row["name"]]))
        assert row["tier"] == "test"
        assert row["median"] == pytest.approx(np.median(columns[1]))
        assert row["single_trial"] == pytest.approx(np.median(columns[2]))
        assert row["feve"] == pytest.approx(np.median(columns[3]))
        assert row["fraction_of_oracle"] == pytest.approx(np.median(columns[4]))
        assert "fraction_of_ceiling" not in row
    hsm = rows[1]
    expected = mannwhitneyu([s[1] for s in SCORES["hsm"]], [s[1] for s in SCORES["cnn"]], alternative="two-sided")
    assert hsm["p_vs_ref"] == pytest.approx(expected.pvalue)
    assert hsm["delta_median"] == pytest.approx(0.41 - 0.61)
    code, out, _ = _compare(store.root)
    assert code == 0 and "test-tier correlation to the trial average" in out and "fraction of oracle" in out


def test_compare_on_validation_when_asked_or_when_a_run_lacks_test_scores(store, tmp_path):
    code, out, _ = _compare(store.root, "--tier", "validation", "--json")
    rows = json.loads(out)
    assert code == 0 and [r["name"] for r in rows] == ["hsm", "cnn"] and rows[0]["tier"] == "validation"
    assert rows[0]["median"] == pytest.approx(0.51)

    mixed = RunStore(tmp_path / "mixed")
    _write_run(mixed, 0, "hsm", with_test=False)
    _write_run(mixed, 1, "cnn")
    code, out, _ = _compare(mixed.root, "--json")
    assert code == 0 and {r["tier"] for r in json.loads(out)} == {"validation"}
    code, _, err = _compare(mixed.root, "--tier", "test")
    assert code == 2 and "--tier test: field/cmpx0 has no test-tier scores" in err and len(err.strip().splitlines()) == 1
    code, _, err = _compare(mixed.root, "--tier", "best")
    assert code == 2 and "--tier 'best'" in err
