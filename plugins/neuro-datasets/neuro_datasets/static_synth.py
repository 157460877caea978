"""A synthetic dataset in the Sinz-lab static FileTree layout, at the scale of a real mouse V1 scan.

:func:`generate_static` draws dead-leaves images (36 x 64 by default), a population from the
documented ground-truth model (:mod:`.static_truth`), behaviour and pupil centre per trial, and
Poisson responses; :func:`write_static` stores it as the ``static`` source reads it, plus
``ground_truth/`` (the model's parameters, the test tier's noise-free rates) and
``ground_truth.json`` (parameters, model description, the true noise ceilings).

Tiers: ``n_train`` training and ``n_val`` validation images shown once each, ``n_test`` test
images shown ``repeats`` times each; trials are in a shuffled presentation order (tiers
interleaved, as in a real session). Same arguments -> byte-identical files.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from msc_neuro_cli.api import DatasetError, per_neuron_correlation

from . import static_truth as st
from .natural_images import dead_leaves

GENERATOR_VERSION = 2
SHAPE = (36, 64)
CHUNK = 128  # images per block (bounds memory; the stream does not depend on it)
MARKER = "ground_truth.json"
Progress = Callable[[str, int, int], None]


def _trial_layout(rng: np.random.Generator, n_train: int, n_val: int, n_test: int, repeats: int):
    """Image id and tier of every trial, in a shuffled presentation order."""
    image = np.concatenate([np.arange(n_train + n_val), np.repeat(np.arange(n_test) + n_train + n_val, repeats)])
    tier = np.array(["train"] * n_train + ["validation"] * n_val + ["test"] * (n_test * repeats))
    order = rng.permutation(len(image))
    return image[order], tier[order]


def generate_static(seed: int = 0, neurons: int = 1000, n_train: int = 4472, n_val: int = 522,
                    n_test: int = 100, repeats: int = 10, shape: tuple[int, int] = SHAPE,
                    progress: Progress | None = None) -> dict[str, Any]:
    """Generate the dataset in memory (see the module doc); ``progress(stage, done, total)``."""
    for name, value, low in (("neurons", neurons, 1), ("n_train", n_train, 2), ("n_val", n_val, 2),
                             ("n_test", n_test, 2), ("repeats", repeats, 2), ("height", shape[0], 8),
                             ("width", shape[1], 8)):
        if int(value) < low:
            raise DatasetError(f"static synth: {name} must be at least {low}, got {value}")
    report = progress or (lambda stage, done, total: None)
    s_images, s_net, s_order, s_behaviour, s_noise = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(5))
    n_images = n_train + n_val + n_test
    blocks = []
    for start in range(0, n_images, CHUNK):
        blocks.append(dead_leaves(s_images, min(CHUNK, n_images - start), tuple(shape)))
        report("images", start + len(blocks[-1]), n_images)
    images = np.concatenate(blocks)
    image_id, tier = _trial_layout(s_order, n_train, n_val, n_test, repeats)
    # Rounded to the stored float32 first, so the files are exactly what the rates were computed from.
    behavior, pupil = (a.astype(np.float32).astype(np.float64) for a in st.draw_behaviour(s_behaviour, len(image_id)))
    net = st.draw_network(s_net, neurons)
    train = tier == "train"
    # Second-layer threshold: the median pre-activation over (at most) the first CHUNK training images.
    pre = st.conv_same(st.layer1_maps(net["layer1"], images[:min(CHUNK, n_train)]), net["layer2"])
    net["bias2"] = np.median(pre, axis=(0, 1, 2))
    zeros, ones = np.zeros(neurons), np.ones(neurons)
    truth = st.StaticTruth(**net, shift=st.SHIFT * np.eye(2), drive_mean=zeros, drive_std=ones, norm=ones,
                           behavior_mean=behavior[train].mean(axis=0), behavior_std=behavior[train].std(axis=0),
                           pupil_mean=pupil[train].mean(axis=0), pupil_std=pupil[train].std(axis=0))
    drive = np.empty((len(image_id), neurons))
    for start in range(0, n_images, CHUNK):
        stop = min(start + CHUNK, n_images)
        maps = st.feature_maps(truth, images[start:stop])
        trials = np.flatnonzero((image_id >= start) & (image_id < stop))
        drive[trials] = st.drives(truth, maps, pupil[trials], image_id[trials] - start)
        report("responses", stop, n_images)
    truth.drive_mean, truth.drive_std = drive[train].mean(axis=0), drive[train].std(axis=0)
    truth.drive_std = np.where(truth.drive_std > 0, truth.drive_std, 1.0)
    u = (drive[train] - truth.drive_mean) / truth.drive_std
    truth.norm = st.softplus(truth.slope * (u - truth.threshold)).mean(axis=0)
    rates = st.rates(truth, drive, behavior)
    responses = s_noise.poisson(rates).astype(np.float32)
    params = {"seed": seed, "neurons": neurons, "n_train": n_train, "n_val": n_val, "n_test": n_test,
              "repeats": repeats, "shape": list(shape), "generator_version": GENERATOR_VERSION}
    return {"images": np.round(images).astype(np.uint8), "image_id": image_id, "tier": tier,
            "behavior": behavior.astype(np.float32), "pupil_center": pupil.astype(np.float32),
            "responses": responses, "rates": rates, "truth": truth, "params": params,
            "ceiling": noise_ceiling(rates, responses, image_id, tier)}


def noise_ceiling(rates: np.ndarray, responses: np.ndarray, image_id: np.ndarray, tier: np.ndarray) -> dict:
    """The true ceilings on the test tier, per neuron: the correlation of the noise-free rates with
    the responses, averaged over each image's repeats (``trial_average``) or trial by trial
    (``single_trial``). No model can beat them in expectation."""
    test = np.flatnonzero(tier == "test")
    ids = np.unique(image_id[test])
    mean_rates = np.stack([rates[test[image_id[test] == i]].mean(axis=0) for i in ids])
    mean_resp = np.stack([responses[test[image_id[test] == i]].astype(np.float64).mean(axis=0) for i in ids])
    average = per_neuron_correlation(mean_resp, mean_rates, mode="filter-NaNs")
    single = per_neuron_correlation(responses[test], rates[test], mode="filter-NaNs")
    return {"trial_average": average, "single_trial": single}


def _save(path: Path, array: np.ndarray) -> None:
    np.save(path, array, allow_pickle=False)


def _ceiling_summary(values: np.ndarray) -> dict:
    return {"median": round(float(np.nanmedian(values)), 6), "mean": round(float(np.nanmean(values)), 6),
            "per_neuron": [round(float(v), 6) for v in values]}


def write_static(data: dict[str, Any], out: Path, progress: Progress | None = None) -> dict[str, Any]:
    """Write ``data`` (from :func:`generate_static`) to ``out`` (replaced atomically) and return the
    metadata written to ``ground_truth.json``."""
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise DatasetError(f"{out}: exists and is not a synthetic static dataset (no {MARKER}); "
                           f"choose another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    report = progress or (lambda stage, done, total: None)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        for sub in ("images", "responses", "behavior", "pupil_center"):
            (tmp / "data" / sub).mkdir(parents=True)
        for sub in ("trials", "neurons"):
            (tmp / "meta" / sub).mkdir(parents=True)
        (tmp / "ground_truth").mkdir()
        n = len(data["image_id"])
        for t in range(n):
            _save(tmp / f"data/images/{t}.npy", data["images"][data["image_id"][t]][None])
            _save(tmp / f"data/responses/{t}.npy", data["responses"][t])
            _save(tmp / f"data/behavior/{t}.npy", data["behavior"][t])
            _save(tmp / f"data/pupil_center/{t}.npy", data["pupil_center"][t])
            if t % 500 == 499 or t == n - 1:
                report("writing", t + 1, n)
        _save(tmp / "meta/trials/tiers.npy", data["tier"].astype("<U10"))
        _save(tmp / "meta/trials/frame_image_id.npy", data["image_id"].astype(np.int64))
        _save(tmp / "meta/trials/trial_idx.npy", np.arange(n, dtype=np.int64))
        _save(tmp / "meta/neurons/unit_ids.npy", np.arange(1, data["responses"].shape[1] + 1, dtype=np.int64))
        for name, array in data["truth"].arrays().items():
            _save(tmp / f"ground_truth/{name}.npy", np.asarray(array, dtype=np.float64))
        test = data["tier"] == "test"
        _save(tmp / "ground_truth/test_rates.npy", data["rates"][test])
        _save(tmp / "ground_truth/test_trials.npy", np.flatnonzero(test).astype(np.int64))
        ceiling = data["ceiling"]
        meta = {
            "dataset": "synthetic static", "layout": "static", "generator": "neuro_datasets.static_synth",
            "params": data["params"], "model": (st.__doc__ or "").strip(),
            "trials": {tier: int((data["tier"] == tier).sum()) for tier in ("train", "validation", "test")},
            "mean_rate": round(float(data["rates"].mean()), 6),
            "ceiling": {
                "trial_average": _ceiling_summary(ceiling["trial_average"]),
                "single_trial": _ceiling_summary(ceiling["single_trial"]),
                "definition": "per neuron on the test tier: Pearson r of the noise-free rates with the "
                              "responses, averaged over each image's repeats (trial_average) or per trial "
                              "(single_trial); ground_truth/test_rates.npy holds the rates",
            },
        }
        (tmp / MARKER).write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
        os.chmod(tmp, 0o755)  # mkdtemp creates 0700
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return meta


def existing_params(out: Path) -> dict | None:
    """The generation parameters of a synthetic static dataset already at ``out`` (None if none)."""
    try:
        return json.loads((Path(out) / MARKER).read_text())["params"]
    except (OSError, ValueError, KeyError):
        return None

