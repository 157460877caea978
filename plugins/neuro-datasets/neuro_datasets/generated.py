"""Dataset ``generated``: synthetic targets made by a trained model (the thesis pipeline's ``bs3_exp8``).

A saved Keras model (one repetition, e.g. ``baseline3__14.keras`` of bl3) predicts ŷ on the
preprocessed inputs of a ``base`` dataset. Targets are ŷ plus Gaussian noise whose variance grows
with the magnitude, as a Poisson-like assumption: y = ŷ + N(0, (c·√ŷ)²), element by element.

- training targets: one noise draw;
- validation targets: the mean of ``noise_draws`` draws (``eval_noised: true``, and then
  ``raw_validation`` holds the draws so noise ceilings work) or the clean ŷ (``false``).

Draws come from ``np.random.RandomState(seed)`` in the thesis pipeline's order (training first, then the
validation draws), so with ``seed: 42`` and the same ŷ they equal the thesis pipeline's ``np.random.seed(42)``
stream. ``shift: seed`` reproduces the thesis pipeline's bug: it added ``np.min(noisy)`` (usually negative) to
every draw, meaning to make the targets non-negative; ``shift: none`` (the default) adds and clips
nothing, so targets near 0 can be negative.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from msc_neuro_cli.api import (PREPROCESS_PARAMS, Dataset, DatasetError, DatasetSource, Param, RegistryError,
                               StoreError, installed_registries as registries, load_dataset, load_model,
                               mean_correlation, per_neuron_correlation, resolve_params)

SHIFTS = ("none", "seed")


def _base_parts(base: Any, where: str = "base") -> tuple[str, dict, dict]:
    """Split and validate a ``base`` mapping into (name, source params, preprocess options).

    Raises ValueError with a one-line reason (the manifest adds file and line).
    """
    if not isinstance(base, dict) or not isinstance(base.get("name"), str):
        raise ValueError(f"{where}: expected a dataset mapping with a 'name' key, got {base!r}")

    try:
        cls = registries().datasets.get(base["name"])
    except RegistryError as exc:
        raise ValueError(f"{where}.name: {exc}") from None
    params = {k: v for k, v in base.items() if k not in ("name", "preprocess")}
    preprocess = base.get("preprocess") or {}
    if not isinstance(preprocess, dict):
        raise ValueError(f"{where}.preprocess: expected a mapping, got {preprocess!r}")
    params = resolve_params(cls.PARAMS, params, lambda key: f"{where}{'.' + key if key else ''}")
    preprocess = resolve_params(PREPROCESS_PARAMS, preprocess,
                                lambda key: f"{where}.preprocess{'.' + key if key else ''}")
    return base["name"], params, preprocess


def _check_base(value: Any) -> str | None:
    try:
        _base_parts(value)
    except ValueError as exc:
        return str(exc)
    return None


def noisy_targets(clean: np.ndarray, coef: float, rng: np.random.RandomState, shift: str) -> np.ndarray:
    """One draw of ŷ + N(0, (c·√ŷ)²); ``shift="seed"`` adds the draw's minimum (the thesis pipeline's bug)."""
    noised = clean + rng.normal(loc=0.0, scale=np.sqrt(clean) * coef)
    if shift == "seed":
        noised = noised + np.min(noised)
    return noised


class GeneratedDataset(DatasetSource):
    """Targets predicted by a saved model on a base dataset's inputs, plus magnitude-scaled noise."""

    description = "synthetic targets: a saved model's predictions on a base dataset plus noise (bs3_exp8)"
    PARAMS = {
        "base": Param(dict, help="the underlying dataset as in the manifest, with its own preprocess "
                      "block, e.g. {name: antolik2016, regions: [1], preprocess: {inputs: zscore}}",
                      check=_check_base),
        "model": Param(str, help="saved .keras model (one repetition) that predicts the targets, "
                       "relative to the manifest folder"),
        "noise": Param(float, help="noise coefficient c: y = ŷ + N(0, (c·√ŷ)²)", minimum=0),
        "eval_noised": Param(bool, True, "validation targets: mean of noise_draws noisy draws (true) "
                             "or the clean predictions (false)"),
        "noise_draws": Param(int, 3, "noise draws averaged into the validation targets (the thesis pipeline: 3)",
                             minimum=1),
        "seed": Param(int, 42, "seed of the noise (np.random.RandomState; the thesis pipeline used 42)",
                      minimum=0, maximum=2**32 - 1),
        "shift": Param(str, "none", "'none', or 'seed' to add each draw's minimum as the thesis pipeline's code did",
                       choices=SHIFTS),
    }

    def options(self) -> dict[str, Any]:
        """Parameters with defaults filled (the worker passes what the manifest resolved)."""
        try:
            return resolve_params(self.PARAMS, self.params,
                                  lambda key: f"generated{'.' + key if key else ''}")
        except ValueError as exc:
            raise DatasetError(str(exc)) from None

    def model_path(self) -> Path:
        return self.resolve(self.options()["model"])

    def base_source(self) -> tuple[DatasetSource, dict]:
        try:
            name, params, preprocess = _base_parts(self.options()["base"], "generated.base")
        except ValueError as exc:
            raise DatasetError(str(exc)) from None

        return registries().datasets.get(name)(params, self.base_dir), {
            "name": name, "params": params, "preprocess": preprocess, "base_dir": str(self.base_dir)}

    def check(self) -> None:
        path = self.model_path()
        if not path.is_file():
            raise DatasetError(f"{path}: model file of the generated dataset does not exist "
                               "(train that run first, or fix `model:`)")
        source, _ = self.base_source()
        source.check()

    def load(self) -> Dataset:
        opts = self.options()
        self.check()
        _, spec = self.base_source()
        base = load_dataset(spec)  # checked, preprocessed (per region) and validated
        path = self.model_path()
        model = _load_model(path)
        train_clean = _predict(model, base.train_x, base.n_neurons, path)
        val_clean = _predict(model, base.val_x, base.n_neurons, path)

        rng = np.random.RandomState(opts["seed"])
        coef, shift = opts["noise"], opts["shift"]
        train_y = noisy_targets(train_clean, coef, rng, shift)
        draws = np.stack([noisy_targets(val_clean, coef, rng, shift) for _ in range(opts["noise_draws"])])
        val_noised = draws.mean(axis=0)

        if opts["eval_noised"]:
            val_y, raw = val_noised, draws
        else:
            val_y, raw = val_clean.astype(np.float64), None
        if base.train_mask is not None:  # merged regions: keep the block layout of the base
            train_y = np.where(base.train_mask > 0, train_y, 0.0)
        if base.val_mask is not None:
            val_y = np.where(base.val_mask > 0, val_y, 0.0)
            if raw is not None:
                raw = np.where(base.val_mask[None] > 0, raw, np.nan)
        meta = dict(base.meta)
        if raw is not None and "repeats" in meta:
            meta["repeats"] = [opts["noise_draws"]] * len(meta["repeats"])
        elif "repeats" in meta:
            meta["repeats"] = [None] * len(meta["repeats"])
        meta["generated"] = {
            "model": str(path), "noise": coef, "eval_noised": opts["eval_noised"],
            "noise_draws": opts["noise_draws"], "seed": opts["seed"], "shift": shift,
            # the thesis pipeline printed these into its run names (trNoiseCorr, ValNoiseCorr)
            "train_noise_correlation": mean_correlation(
                per_neuron_correlation(train_clean, train_y, base.train_mask)),
            "val_noise_correlation": mean_correlation(
                per_neuron_correlation(val_clean, val_noised, base.val_mask)),
        }
        return Dataset(base.train_x, train_y, base.val_x, val_y, base.input_dims, raw,
                       base.train_mask, base.val_mask, list(base.regions), meta)


def _load_model(path: Path):
    try:
        return load_model(path)
    except StoreError as exc:  # surface it as a problem of this dataset
        raise DatasetError(str(exc)) from None


def _predict(model, x: np.ndarray, neurons: int, path: Path) -> np.ndarray:
    """ŷ for inputs (rows, features): checks the model fits the base dataset and predicts ŷ ≥ 0."""
    expected = model.inputs[0].shape[-1] if model.inputs else None
    if expected is not None and expected != x.shape[1]:
        raise DatasetError(f"{path}: the model takes {expected} input features, "
                           f"the base dataset has {x.shape[1]}")
    x = np.asarray(x, np.float32)
    # a direct call (inference mode) in chunks: much cheaper than model.predict's setup here
    chunks = [np.asarray(model(x[i:i + 4096], training=False)) for i in range(0, len(x), 4096)]
    out = np.concatenate(chunks) if chunks else np.zeros((0, neurons), np.float32)
    if out.ndim != 2 or out.shape[1] != neurons:
        raise DatasetError(f"{path}: the model predicts shape {out.shape[1:]}, "
                           f"the base dataset has {neurons} neurons")
    if not np.all(np.isfinite(out)):
        raise DatasetError(f"{path}: the model predicts NaN or inf values")
    if out.min() < 0:
        raise DatasetError(f"{path}: the model predicts negative values (min {out.min():.3g}); "
                           "the noise std c·√ŷ needs ŷ ≥ 0 (use a softplus/relu output layer)")
    return out
