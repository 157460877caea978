"""Reports prefer the noise ceilings a run's record holds over reloading its dataset."""

from __future__ import annotations

import json

import numpy as np
import pytest

from msc_neuro_cli.api import Dataset, cc_max, oracle_jackknife, score_replicas, summarise_reps
from neuro_reports import neurons, summary
from neuro_reports.loading import Repetition, Run


def _record_and_spec(tmp_path):
    rng = np.random.default_rng(2)
    raw = rng.normal(0, 1, (40, 5))[None] + rng.normal(0, 0.7, (6, 40, 5))
    data = Dataset(np.zeros((2, 4)), np.zeros((2, 5)), np.zeros((40, 4)), raw.mean(axis=0), (2, 2, 1),
                   raw, regions=[("V1", 2), ("LM", 3)])
    pred = raw.mean(axis=0) + rng.normal(0, 0.5, (40, 5))
    reps = score_replicas(data, pred[None])
    # through JSON as the store writes it (sorted keys): region order must survive
    record = json.loads(json.dumps({"dataset_sha256": "abc123", **summarise_reps(reps)}, sort_keys=True))
    spec = {"dataset": {"name": "antolik2016", "params": {"path": str(tmp_path / "gone")}, "base_dir": str(tmp_path),
                        "preprocess": {"inputs": "none", "scale": 1.0, "stats": "train", "outputs": "none"}}}
    return raw, pred, spec, record


def test_dataset_info_from_the_record_without_loading(tmp_path):
    raw, pred, spec, record = _record_and_spec(tmp_path)
    neurons._CACHE.clear()
    info = neurons.dataset_info(spec, record)
    assert info.error is None and info.checksum == "abc123"
    assert info.regions == [("V1", 2), ("LM", 3)] and list(info.region_of) == ["V1"] * 2 + ["LM"] * 3
    np.testing.assert_allclose(info.ceilings["cc_max"][:2], cc_max(raw[:, :, :2]))
    np.testing.assert_allclose(info.ceilings["oracle_jackknife"][2:], oracle_jackknife(raw[:, :, 2:]))
    assert info.repeats == {"V1": 6, "LM": 6}

    run = Run("f/ex0", "ex", "f", "ex0", 0, "m", {}, "store", "finished",
              [Repetition(0, 0, 0.5, val_per_neuron=np.array(record["ceilings"]["per_neuron"]["cc_max"]) * 0.5)],
              spec, record)
    assert summary.ceiling_fractions(run)[0] == pytest.approx(0.5)

    # an older run (no ceilings in its record) still reloads the dataset: gone here, so no ceilings
    older = neurons.dataset_info(spec, {"dataset_sha256": "abc123"})
    assert older.ceilings == {} and "could not be loaded" in older.error
    neurons._CACHE.clear()
