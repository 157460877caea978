"""Scores in run records: region splitting, analytic limits, independent numpy checks, and a tiny
real run whose record, `neuro status` and `neuro export-metrics` carry the noise-ceiling scores."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest

from msc_neuro_cli.metrics import scoring
from msc_neuro_cli.datasets.contract import Dataset
from msc_neuro_cli.testing import neuro


def _dataset(raw, val_y=None, regions=None, val_mask=None) -> Dataset:
    raw = np.asarray(raw, np.float64)
    val_y = np.nanmean(raw, axis=0) if val_y is None else val_y
    n = val_y.shape[1]
    return Dataset(np.zeros((4, 4)), np.zeros((4, n)), np.zeros((len(val_y), 4)), val_y, (2, 2, 1),
                   raw, None, val_mask, regions or [], {})


# --- independent numpy versions of the formulas (written out, not calling msc_neuro_cli) ----------
def _corr(a, b):
    return np.corrcoef(a, b)[0, 1]


def _cc_max(raw_n):  # raw_n: (repeats, images) of one neuron; Schoppe et al. 2016
    r = raw_n.shape[0]
    sp = (np.var(raw_n.sum(axis=0), ddof=1) - sum(np.var(k, ddof=1) for k in raw_n)) / (r * (r - 1))
    return math.sqrt(sp / np.var(raw_n.mean(axis=0), ddof=1)) if sp > 0 else math.nan


def _jackknife(raw_n):
    r = raw_n.shape[0]
    others = (raw_n.sum(axis=0)[None] - raw_n) / (r - 1)
    return _corr(raw_n.ravel(), others.ravel())


def _slope(c, o):
    c, o = np.asarray(c), np.asarray(o)
    ok = np.isfinite(c) & np.isfinite(o)
    return float((c[ok] * o[ok]).sum() / (o[ok] ** 2).sum())


@pytest.fixture(scope="module")
def signal_plus_noise():
    """Responses = known signal (variance vs) + Gaussian noise (variance vn), many repeats/images."""
    rng = np.random.default_rng(3)
    repeats, images = 40, 4000
    vs = np.array([1.0, 0.5, 2.0])
    vn = np.array([1.0, 2.0, 0.5])
    signal = rng.normal(0, 1, (images, 3)) * np.sqrt(vs)
    raw = signal[None] + rng.normal(0, 1, (repeats, images, 3)) * np.sqrt(vn)
    return raw, signal, vs, vn, repeats


def test_perfect_predictor_reaches_the_ceilings(signal_plus_noise):
    raw, signal, vs, vn, r = signal_plus_noise
    ceil = scoring.dataset_ceilings(_dataset(raw))
    table = ceil.to_json()
    jack = vs / np.sqrt((vs + vn) * (vs + vn / (r - 1)))
    assert table["mean"]["oracle_jackknife"] == pytest.approx(jack.mean(), abs=0.01)
    assert table["mean"]["cc_max"] == pytest.approx(np.sqrt(vs / (vs + vn / r)).mean(), abs=0.01)
    assert table["mean"]["noise_variance"] == pytest.approx(vn.mean(), rel=0.02)
    assert table["mean"]["explainable_variance_fraction"] == pytest.approx((vs / (vs + vn)).mean(), abs=0.01)
    assert table["repeats"] == {"region1": r} and table["neurons"] == [["region1", 3]]

    out = scoring.score(ceil, signal)
    s = out["scores"]
    assert s["cc_norm"] == pytest.approx(1.0, abs=0.01)
    assert s["fraction_of_ceiling"] == pytest.approx(1.0, abs=0.01)
    assert s["feve"] == pytest.approx(1.0, abs=0.02) and s["eve"] == pytest.approx(1.0, abs=0.02)
    # single-trial correlation of the true signal is sqrt(vs / (vs + vn)); the jackknife oracle
    # falls short of it by sqrt(1 + vn / (vs (R - 1))): about 1 for many repeats
    np.testing.assert_allclose(out["scores_per_neuron"]["cc_trial"], np.sqrt(vs / (vs + vn)), atol=0.01)
    truth = np.sqrt(vs / (vs + vn)) @ jack / (jack @ jack)
    assert s["fraction_of_oracle"] == pytest.approx(truth, abs=0.01)
    assert s["fraction_of_oracle"] == pytest.approx(1.0, abs=0.05)

    noisy = signal + np.random.default_rng(4).normal(0, 1, signal.shape) * np.sqrt(0.5 * vs)
    worse = scoring.score(ceil, noisy)["scores"]
    assert worse["feve"] == pytest.approx(0.5, abs=0.03)  # 1 - ve / vs
    assert worse["cc_norm"] == pytest.approx(np.sqrt(1 / 1.5), abs=0.02)  # corr(signal + error, signal)


def test_cc_trial_against_corrcoef(signal_plus_noise):
    raw, signal, *_ = signal_plus_noise
    raw, pred = raw[:5, :50], signal[:50] + 0.3
    got = scoring.cc_trial(raw, pred)
    for n in range(3):
        assert got[n] == pytest.approx(_corr(raw[:, :, n].ravel(), np.tile(pred[:, n], 5)), abs=1e-12)


def test_two_merged_regions_split_by_mask():
    """Regions of different neuron, image and repeat counts, merged the thesis pipeline's way by the real
    dataset plugin: each region is scored on its own block only, then neuron-weighted."""
    from neuro_datasets.merge import merge_regions, region_raw

    rng = np.random.default_rng(5)
    parts, sizes = [], [("V1a", 3, 30, 4), ("V1b", 5, 20, 7)]  # name, neurons, images, repeats
    for name, n, images, repeats in sizes:
        raw = rng.normal(0, 1, (images, n))[None] + rng.normal(0, 0.8, (repeats, images, n))
        d = _dataset(raw, regions=[(name, n)])
        d.train_y = np.zeros((4, n))
        parts.append(d)
    merged = merge_regions(parts)
    assert merged.val_mask is not None and np.isnan(merged.raw_validation).any()

    blocks = scoring.region_blocks(merged)
    assert [(b.name, b.raw.shape) for b in blocks] == [("V1a", (4, 30, 3)), ("V1b", (7, 20, 5))]
    for block, (_, theirs) in zip(blocks, region_raw(merged)):
        np.testing.assert_array_equal(block.raw, theirs)

    pred = merged.val_y + rng.normal(0, 0.5, merged.val_y.shape)
    pred[merged.val_mask == 0] = 99.0  # off-block predictions must not matter
    out = scoring.score(scoring.dataset_ceilings(merged), pred)
    region_scores, cc_max = {}, []
    for (name, n, images, repeats), part, cols, rows in zip(sizes, parts, (slice(0, 3), slice(3, 8)),
                                                            (slice(0, 30), slice(30, 50))):
        raw = part.raw_validation
        p = pred[rows, cols]
        cc_abs = [_corr(p[:, k], raw[:, :, k].mean(axis=0)) for k in range(n)]
        ccmax = [_cc_max(raw[:, :, k]) for k in range(n)]
        trial = [_corr(np.tile(p[:, k], repeats), raw[:, :, k].ravel()) for k in range(n)]
        jack = [_jackknife(raw[:, :, k]) for k in range(n)]
        np.testing.assert_allclose(out["scores_per_neuron"]["cc_abs"][cols], cc_abs, atol=1e-10)
        np.testing.assert_allclose(out["scores_per_neuron"]["cc_trial"][cols], trial, atol=1e-10)
        norm = np.array(cc_abs) / np.array(ccmax)
        region_scores[name] = {"cc_norm": np.nanmean(norm), "fraction_of_oracle": _slope(trial, jack),
                               "fraction_of_ceiling": _slope(cc_abs, ccmax)}
        for key, value in region_scores[name].items():
            assert out["scores_per_region"][name][key] == pytest.approx(value, abs=1e-10)
        cc_max += ccmax
    for key in ("cc_norm", "fraction_of_oracle"):
        weighted = (3 * region_scores["V1a"][key] + 5 * region_scores["V1b"][key]) / 8
        assert out["scores"][key] == pytest.approx(weighted, abs=1e-10)
    table = scoring.dataset_ceilings(merged).to_json()
    np.testing.assert_allclose(np.array(table["per_neuron"]["cc_max"], float), cc_max, atol=1e-10)
    assert table["repeats"] == {"V1a": 4, "V1b": 7} and table["neurons"] == [["V1a", 3], ["V1b", 5]]


def test_no_repeats_bad_repeats_and_json_safety():
    rng = np.random.default_rng(6)
    plain = _dataset(rng.normal(size=(2, 6, 2)))
    plain.raw_validation = None
    assert scoring.dataset_ceilings(plain) is None
    assert scoring.score_replicas(plain, np.zeros((2, 6, 2))) == [{}, {}]
    assert scoring.summarise_reps([{"val_correlation": 0.1}]) == {}

    wrong = _dataset(rng.normal(size=(3, 6, 2)))
    wrong.raw_validation = wrong.raw_validation[:, :5]
    (result,) = scoring.score_replicas(wrong, np.zeros((1, 6, 2)))
    assert "raw_validation has shape (3, 5, 2)" in result["scores_error"]

    raw = rng.normal(size=(3, 6, 2))
    raw[:, :, 1] = 1.0  # a silent neuron: every ceiling undefined
    (result,) = scoring.score_replicas(_dataset(raw), rng.normal(size=(1, 6, 2)))
    text = json.dumps(result, allow_nan=False)  # raises on NaN
    assert result["scores_per_neuron"]["cc_norm"][1] is None
    assert result["ceilings"]["per_neuron"]["cc_max"][1] is None
    assert json.loads(text)["scores"]["cc_abs"] == pytest.approx(result["scores_per_neuron"]["cc_abs"][0])


def test_summarise_reps_over_repetitions():
    raw = np.random.default_rng(7).normal(size=(4, 12, 3))
    preds = np.random.default_rng(8).normal(size=(5, 12, 3))
    reps = scoring.score_replicas(_dataset(raw), preds)
    out = scoring.summarise_reps(reps)
    values = [r["scores"]["cc_norm"] for r in reps]
    assert out["scores"]["cc_norm"] == {"median": pytest.approx(np.median(values)),
                                        "p90": pytest.approx(np.percentile(values, 90)),
                                        "p10": pytest.approx(np.percentile(values, 10)), "n": 5}
    assert out["fraction_of_ceiling"] == out["scores"]["fraction_of_ceiling"]
    assert out["scores_per_region"]["region1"]["feve"]["n"] == 5
    assert out["ceilings"] == reps[0]["ceilings"]


@pytest.mark.slow
def test_tiny_run_records_status_and_export(tmp_path, tiny_manifest, tiny_data):
    store = tmp_path / "training_data"
    args = ("--store", str(store))
    neuro("run", "t", "--run", "0", "--manifest", str(tiny_manifest), *args, cwd=tmp_path, check=True)
    run_dir = store / "runs" / "testfolder" / "tinyx0"
    record = json.loads((run_dir / "record.json").read_text())

    raw = np.load(tiny_data / "Data" / "region1" / "raw_validation_set.npy")
    ccmax = [_cc_max(raw[:, :, n]) for n in range(raw.shape[2])]
    stored = np.array(record["ceilings"]["per_neuron"]["cc_max"], float)  # None -> nan
    np.testing.assert_allclose(stored, ccmax, atol=1e-10)
    assert record["ceilings"]["repeats"] == {"region1": 3}
    assert record["scores"]["cc_norm"]["n"] == 2 and record["fraction_of_ceiling"]["n"] == 2
    for rep in record["repetitions"]:
        # the scores were computed from the same final predictions as the training correlation
        np.testing.assert_allclose(np.array(rep["scores_per_neuron"]["cc_abs"], float),
                                   rep["val_correlation_per_neuron"], atol=1e-4)
        assert -1 <= rep["scores"]["cc_abs"] <= 1 and rep["scores"]["feve"] <= 1.5
    assert record["val_correlation"]["n"] == 2  # existing keys unchanged

    status = json.loads(neuro("status", "tiny", "--json", *args, cwd=tmp_path, check=True).stdout)
    assert status[0]["fraction_of_ceiling"] == pytest.approx(record["fraction_of_ceiling"]["median"])
    assert status[0]["cc_norm"] == pytest.approx(record["scores"]["cc_norm"]["median"])
    table = neuro("status", "tiny", *args, cwd=tmp_path, env={"COLUMNS": "200"}, check=True).stdout
    assert "r/ceiling" in table and f"{record['fraction_of_ceiling']['median']:.3f}" in table

    rows = list(csv.DictReader(io.StringIO(neuro("export-metrics", "tiny", *args, cwd=tmp_path,
                                                 check=True).stdout)))
    assert len(rows) == 2
    for row in rows:
        rep = record["repetitions"][int(row["rep"])]
        for key in ("cc_norm", "feve", "fraction_of_oracle", "fraction_of_ceiling", "cc_abs", "eve"):
            assert float(row[key]) == pytest.approx(rep["scores"][key])
        assert -1 <= float(row["cc_abs"]) <= 1
    neurons = list(csv.DictReader(io.StringIO(neuro("export-metrics", "tiny", "--per-neuron", *args,
                                                    cwd=tmp_path, check=True).stdout)))
    assert len(neurons) == 12 and {r["region"] for r in neurons} == {"region1"}
    for row in neurons[:6]:
        n = int(row["neuron"])
        assert (float(row["cc_max"]) if row["cc_max"] else math.nan) == pytest.approx(ccmax[n], nan_ok=True)
        assert row["oracle_jackknife"] and row["cc_norm"] != "nan"
    (summary,) = csv.DictReader(io.StringIO(neuro("export-metrics", "tiny", "--summary", *args,
                                                  cwd=tmp_path, check=True).stdout))
    assert float(summary["cc_norm_median"]) == pytest.approx(record["scores"]["cc_norm"]["median"])
    assert float(summary["val_correlation_p90"]) == pytest.approx(record["val_correlation"]["p90"])
    assert float(summary["ceiling_cc_max"]) == pytest.approx(np.nanmean(ccmax))
    both = neuro("export-metrics", "--summary", "--per-neuron", *args, cwd=tmp_path)
    assert both.returncode == 2 and "cannot be combined" in both.stderr


ANTOLIK = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "antolik2016" / "Data"


@pytest.mark.skipif(not ANTOLIK.exists(), reason="shared Antolik data not present")
def test_real_antolik_regions_merged():
    """The three real regions (10, 8, 12 repeats) merged: per-region ceilings as in docs/metrics.md,
    and the trial average as prediction gives CCabs = 1 everywhere."""
    from neuro_datasets.merge import merge_regions

    parts = []
    for region in (1, 2, 3):
        raw = np.load(ANTOLIK / f"region{region}/raw_validation_set.npy", allow_pickle=False)
        d = _dataset(raw, np.load(ANTOLIK / f"region{region}/validation_set.npy", allow_pickle=False),
                     regions=[(f"region{region}", raw.shape[2])])
        d.train_y = np.zeros((4, raw.shape[2]))
        parts.append(d)
    merged = merge_regions(parts)
    table = scoring.dataset_ceilings(merged).to_json()
    assert table["repeats"] == {"region1": 10, "region2": 8, "region3": 12}
    jack = {r: table["regions"][r]["oracle_jackknife"] for r in table["regions"]}
    assert jack == pytest.approx({"region1": 0.388, "region2": 0.296, "region3": 0.355}, abs=0.0015)
    ccmax = {r: table["regions"][r]["cc_max"] for r in table["regions"]}
    assert ccmax == pytest.approx({"region1": 0.816, "region2": 0.737, "region3": 0.800}, abs=0.0015)
    assert table["mean"]["cc_max"] == pytest.approx(
        (103 * ccmax["region1"] + 55 * ccmax["region2"] + 102 * ccmax["region3"]) / 260)
    out = scoring.score(scoring.dataset_ceilings(merged), merged.val_y)
    assert out["scores"]["cc_abs"] == pytest.approx(1.0)


def test_per_neuron_export_columns_keep_region_order(tmp_path):
    """Through the store's JSON writer (sorted keys), regions stay in column order."""
    from msc_neuro_cli.store.fsutil import atomic_write_json, read_json
    from msc_neuro_cli.runs.results import _neuron_scores

    rng = np.random.default_rng(9)
    raw = rng.normal(size=(3, 8, 5))
    data = _dataset(raw, regions=[("zeta", 2), ("alpha", 3)])
    (rep,) = scoring.score_replicas(data, rng.normal(size=(1, 8, 5)))
    atomic_write_json(tmp_path / "rep.json", rep)
    columns = _neuron_scores(read_json(tmp_path / "rep.json"), 5)
    assert columns["region"] == ["zeta", "zeta", "alpha", "alpha", "alpha"]
    from msc_neuro_cli.metrics.ceilings import cc_max
    np.testing.assert_allclose(np.array(columns["cc_max"], float), cc_max(raw))
    assert _neuron_scores({}, 2)["cc_norm"] == [None, None]
