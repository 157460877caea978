"""The embedded default dataset: a deterministic synthetic V1 population in the Antolik layout.

:func:`generate` draws dead-leaves images (:mod:`.natural_images`) and a population of simple-,
DoG- and complex-like cells (:mod:`.ground_truth`), then single-trial training responses and
``repeats`` trials per validation image. :func:`write` stores it as
``<out>/Data/region1/{training_inputs,training_set,validation_inputs,validation_set,
raw_validation_set}.npy`` (float32) plus ``meta.json`` and ``ground_truth/validation_rates.npy``.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .checksums import sha256_file
from . import ground_truth as gt
from .natural_images import dead_leaves

GENERATOR_VERSION = 1
PIXEL_SCALE = 1e6  # Antolik inputs are 8-bit grey levels divided by 1e6
ARRAYS = ("training_inputs", "training_set", "validation_inputs", "validation_set", "raw_validation_set")


def mean_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over columns of the Pearson correlation of ``a`` and ``b`` (constant columns skipped)."""
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    norm = np.sqrt((a ** 2).sum(axis=0) * (b ** 2).sum(axis=0))
    ok = norm > 0
    return float(((a * b).sum(axis=0)[ok] / norm[ok]).mean())


def generate(seed: int = 0, n_train: int = 1800, n_val: int = 50, repeats: int = 10,
             n_neurons: int = 100, size: int = 31) -> dict[str, Any]:
    """Generate the dataset. Same arguments -> identical arrays.

    Returns the five Antolik arrays (inputs as pixel/1e6, float32; responses float32), the
    noise-free ``training_rates`` / ``validation_rates`` (float64), ``ceiling`` (mean over neurons of
    the correlation between the noise-free validation rates and the trial-averaged validation
    responses, i.e. the best correlation a model can reach on this validation set) and ``params``.
    """
    for name, value, low in (("n_train", n_train, 2), ("n_val", n_val, 2), ("repeats", repeats, 1),
                             ("n_neurons", n_neurons, 1), ("size", size, 5)):
        if int(value) < low:
            raise ValueError(f"{name} must be at least {low}, got {value}")
    # Independent streams: changing the neuron count does not change the images, and so on.
    s_train, s_val, s_cells, s_noise_train, s_noise_val = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(5))
    train_px = dead_leaves(s_train, n_train, size).reshape(n_train, size * size)
    val_px = dead_leaves(s_val, n_val, size).reshape(n_val, size * size)
    population = gt.draw_population(s_cells, n_neurons, size)
    gt.calibrate(population, train_px)
    train_rates = gt.rates(population, train_px)
    val_rates = gt.rates(population, val_px)
    training_set = gt.trials(s_noise_train, population, train_rates).astype(np.float32)
    raw = np.stack([gt.trials(s_noise_val, population, val_rates) for _ in range(repeats)]).astype(np.float32)
    validation_set = raw.astype(np.float64).mean(axis=0).astype(np.float32)
    params = {"seed": seed, "n_train": n_train, "n_val": n_val, "repeats": repeats,
              "n_neurons": n_neurons, "size": size, "generator_version": GENERATOR_VERSION}
    return {
        "training_inputs": (train_px / PIXEL_SCALE).astype(np.float32),
        "training_set": training_set,
        "validation_inputs": (val_px / PIXEL_SCALE).astype(np.float32),
        "validation_set": validation_set,
        "raw_validation_set": raw,
        "training_rates": train_rates,
        "validation_rates": val_rates,
        "ceiling": mean_correlation(val_rates, validation_set.astype(np.float64)),
        "single_trial_ceiling": mean_correlation(train_rates, training_set.astype(np.float64)),
        "population": population,
        "params": params,
    }


def _save_npy(path: Path, array: np.ndarray) -> None:
    """Write atomically: a temporary file in the same folder, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.save(handle, array, allow_pickle=False)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


GROUND_TRUTH_TEXT = (
    "Dead-leaves images (discs with radii ~ r^-3, uniform grey levels, 8-bit). Cells: simple "
    "(Gabor filter), DoG (centre-surround, ON or OFF) and complex (energy of a quadrature Gabor "
    "pair); rate = baseline + gain * max(drive - theta, 0)^power. Trials: compound Poisson, "
    "count ~ Poisson(rate / amplitude), each event ~ Exponential(amplitude): mean = rate, "
    "variance = 2 * amplitude * rate. See neuro_datasets/ground_truth.py.")


def write(data: dict[str, Any], out: Path) -> dict[str, Any]:
    """Write ``data`` (from :func:`generate`) under ``out`` and return the metadata written."""
    out = Path(out)
    region = out / "Data" / "region1"
    files = {}
    for name in ARRAYS:
        path = region / f"{name}.npy"
        _save_npy(path, data[name])
        files[f"Data/region1/{name}.npy"] = path
    truth = out / "ground_truth" / "validation_rates.npy"
    _save_npy(truth, data["validation_rates"].astype(np.float32))
    files["ground_truth/validation_rates.npy"] = truth
    meta = {
        "dataset": "synthetic",
        "layout": "antolik2016",
        "generator": "neuro_datasets.synthetic.generate",
        "params": data["params"],
        "regions": {"region1": {"neurons": int(data["training_set"].shape[1]),
                                "training_images": int(data["training_set"].shape[0]),
                                "validation_images": int(data["validation_set"].shape[0]),
                                "repeats": int(data["raw_validation_set"].shape[0])}},
        "ground_truth": GROUND_TRUTH_TEXT,
        "population": data["population"].describe(),
        "ceiling": {
            "mean_correlation_rates_vs_trial_average": round(data["ceiling"], 6),
            "mean_correlation_rates_vs_single_training_trials": round(data["single_trial_ceiling"], 6),
            "definition": "mean over neurons of Pearson r between the noise-free expected validation "
                          "rates (ground_truth/validation_rates.npy) and validation_set (mean over repeats)",
        },
        "sha256": {name: sha256_file(path) for name, path in files.items()},
    }
    tmp = out / ".meta.json.tmp"
    tmp.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, out / "meta.json")
    return meta
