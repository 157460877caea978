"""The ``generated`` dataset: a real saved model predicts ŷ on a tiny Antolik-layout dataset, and
the noisy targets are checked against independent numpy computations."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from msc_neuro_cli.api import PREPROCESS_PARAMS, DatasetError, installed_registries as registries, load_dataset

_spec = importlib.util.spec_from_file_location(  # the core tests' helpers, under a unique name
    "neuro_core_test_helpers", Path(__file__).resolve().parents[3] / "tests" / "conftest.py")
_helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_helpers)
write_tiny_dataset = _helpers.write_tiny_dataset

NEURONS = 6
BASE = {"name": "antolik2016", "path": "Data", "regions": [1],
        "preprocess": {"inputs": "zscore", "stats": "per_split"}}


def _save_model(path: Path, specs, neurons: int, seed: int) -> list[np.ndarray]:
    """Assemble real layers, give them random weights, save replica 0; return its weights."""
    from msc_neuro_cli.api.layers import assemble, ComponentSpec, export_replica, replica_weights

    layers = assemble([ComponentSpec(c, p, "test") for c, p in specs], (9, 9, 1), neurons, 1,
                      registries().components)
    for i, layer in enumerate(layers):
        layer.initialise([np.random.default_rng(seed + i)])
    path.parent.mkdir(parents=True, exist_ok=True)
    export_replica(layers, 0).save(path)
    return replica_weights(layers, 0)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Tiny dataset + a 2-layer softplus model (81 -> 4 -> 6) saved as the run store would."""
    root = write_tiny_dataset(tmp_path_factory.mktemp("gen"), neurons=NEURONS)
    weights = _save_model(root / "models" / "gen__0.keras",
                          [("normal", {"units": 4, "activation": "softplus"}),
                           ("normal", {"units": "N", "activation": "softplus"})], NEURONS, 3)
    return root, weights


def _zscore(x):  # one scalar mean/std over the split, as the thesis pipeline's normalize_mean_std
    return (x - x.mean()) / x.std()


def _reference(root: Path, weights, split: str) -> np.ndarray:
    """ŷ by numpy: softplus(softplus(z W1 + b1) W2 + b2) on per-split z-scored raw inputs."""
    x = _zscore(np.load(root / "Data" / "region1" / f"{split}_inputs.npy")).astype(np.float32)
    w1, b1, w2, b2 = (np.asarray(w, np.float64) for w in weights)
    hidden = np.logaddexp(0.0, x @ w1 + b1)
    return np.logaddexp(0.0, hidden @ w2 + b2)


def _load(root: Path, **params):
    from neuro_datasets.generated import GeneratedDataset

    full = {"base": BASE, "model": "models/gen__0.keras", "noise": 0.5, **params}
    return GeneratedDataset(full, root).load()


def test_deterministic_for_a_seed(world):
    root, _ = world
    a, b = _load(root, seed=7), _load(root, seed=7)
    for name in ("train_x", "train_y", "val_x", "val_y", "raw_validation"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    other = _load(root, seed=8)
    assert not np.allclose(a.train_y, other.train_y)
    np.testing.assert_array_equal(a.train_x, other.train_x)


def test_noise_variance_is_c_squared_times_prediction(world):
    root, weights = world
    coef, draws = 0.7, 4000
    data = _load(root, noise=coef, noise_draws=draws, seed=1)
    clean_val, clean_train = _reference(root, weights, "validation"), _reference(root, weights, "training")
    assert data.raw_validation.shape == (draws, 10, NEURONS)
    expected_var = coef ** 2 * clean_val
    var = data.raw_validation.var(axis=0, ddof=1)
    assert abs((var / expected_var).mean() - 1) < 0.03  # 60 elements x 4000 draws: SE ~0.3%
    np.testing.assert_allclose(var, expected_var, rtol=0.12)  # per element: SE ~2.2%
    se = coef * np.sqrt(clean_val / draws)
    assert np.all(np.abs(data.raw_validation.mean(axis=0) - clean_val) < 5 * se)
    np.testing.assert_allclose(data.val_y, data.raw_validation.mean(axis=0))
    z = (data.train_y - clean_train) / (coef * np.sqrt(clean_train))  # one draw: ~N(0, 1)
    assert abs(z.mean()) < 0.25 and 0.75 < z.var() < 1.3


def test_eval_noised_false_gives_the_clean_prediction(world):
    root, weights = world
    clean = _load(root, eval_noised=False, noise=1.0, seed=5)
    noisy = _load(root, eval_noised=True, noise=1.0, seed=5)
    np.testing.assert_allclose(clean.val_y, _reference(root, weights, "validation"), rtol=1e-5, atol=1e-6)
    import keras

    model = keras.models.load_model(root / "models" / "gen__0.keras", compile=False)
    np.testing.assert_array_equal(clean.val_y, np.asarray(model(clean.val_x, training=False)))
    assert clean.raw_validation is None
    np.testing.assert_array_equal(clean.train_y, noisy.train_y)  # training targets stay noisy
    assert not np.allclose(clean.val_y, noisy.val_y)


def test_noise_zero_and_seed_stream(world):
    """noise 0 gives ŷ itself; seed 42 reproduces the thesis pipeline's np.random.seed(42) draws in its order."""
    root, weights = world
    exact = _load(root, noise=0.0, eval_noised=False)
    np.testing.assert_allclose(exact.train_y, _reference(root, weights, "training"), rtol=1e-5, atol=1e-6)
    train_clean, val_clean = exact.train_y.astype(np.float32), exact.val_y.astype(np.float32)
    state = np.random.get_state()
    try:
        np.random.seed(42)
        draw = [train_clean + np.random.normal(loc=0, scale=np.sqrt(train_clean) * 1.3)]
        draw += [val_clean + np.random.normal(loc=0, scale=np.sqrt(val_clean) * 1.3) for _ in range(3)]
    finally:
        np.random.set_state(state)
    shifted = [d + np.min(d) for d in draw]
    data = _load(root, noise=1.3, shift="seed")
    np.testing.assert_array_equal(data.train_y, shifted[0])
    np.testing.assert_allclose(data.val_y, (shifted[1] + shifted[2] + shifted[3]) / 3, rtol=1e-12)


def test_shift_seed_adds_each_draws_minimum(world):
    root, _ = world
    plain = _load(root, noise=1.0, seed=3, shift="none")
    buggy = _load(root, noise=1.0, seed=3, shift="seed")
    assert plain.train_y.min() < 0  # the "shift" moves targets further down, not up
    np.testing.assert_array_equal(buggy.train_y, plain.train_y + plain.train_y.min())
    mins = plain.raw_validation.min(axis=(1, 2))
    np.testing.assert_array_equal(buggy.raw_validation, plain.raw_validation + mins[:, None, None])
    np.testing.assert_allclose(buggy.val_y, plain.val_y + mins.mean(), rtol=1e-12, atol=1e-12)


def test_missing_model_names_the_path(world, tmp_path):
    from neuro_datasets.generated import GeneratedDataset

    root, _ = world
    source = GeneratedDataset({"base": BASE, "model": "models/nope__14.keras", "noise": 1.0}, root)
    with pytest.raises(DatasetError, match=r"models/nope__14\.keras.*does not exist"):
        source.check()
    with pytest.raises(DatasetError, match=r"nope__14\.keras"):
        source.load()
    (tmp_path / "m.keras").write_text("not a model")
    broken = GeneratedDataset({"base": BASE, "model": str(tmp_path / "m.keras"), "noise": 1.0}, root)
    with pytest.raises(DatasetError, match=r"m\.keras: cannot load the model"):
        broken.load()


def test_base_is_validated_like_a_manifest_dataset(world):
    from neuro_datasets.generated import GeneratedDataset

    root, _ = world
    base = GeneratedDataset.PARAMS["base"]
    with pytest.raises(ValueError, match="unknown dataset 'antolik'|'antolik'"):
        base.coerce({"name": "antolik", "path": "Data"})
    with pytest.raises(ValueError, match="base.preprocess.inputs"):
        base.coerce({**BASE, "preprocess": {"inputs": "whiten"}})
    with pytest.raises(ValueError, match=r"base\.region: unknown key 'region'"):
        base.coerce({"name": "antolik2016", "region": 1})
    missing_data = GeneratedDataset({"base": {**BASE, "path": "Nowhere"}, "model": "models/gen__0.keras",
                                     "noise": 1.0}, root)
    with pytest.raises(DatasetError, match="Nowhere"):
        missing_data.check()


def test_model_must_fit_the_base_and_predict_non_negative(world):
    from neuro_datasets.generated import GeneratedDataset

    root, _ = world
    _save_model(root / "models" / "five.keras", [("normal", {"units": "N", "activation": "softplus"})], 5, 0)
    _save_model(root / "models" / "lin.keras", [("normal", {"units": "N", "activation": "lin"})], NEURONS, 0)
    with pytest.raises(DatasetError, match=r"five\.keras: the model predicts shape \(5,\).* 6 neurons"):
        GeneratedDataset({"base": BASE, "model": "models/five.keras", "noise": 1.0}, root).load()
    with pytest.raises(DatasetError, match=r"lin\.keras: the model predicts negative values"):
        GeneratedDataset({"base": BASE, "model": "models/lin.keras", "noise": 1.0}, root).load()


def test_worker_loads_a_generated_dataset(world):
    root, weights = world
    params = {"base": BASE, "model": "models/gen__0.keras", "noise": 0.5, "eval_noised": True,
              "noise_draws": 3, "seed": 42, "shift": "none"}
    preprocess = {key: param.default for key, param in PREPROCESS_PARAMS.items()}
    data = load_dataset({"name": "generated", "params": params, "preprocess": preprocess, "base_dir": str(root)})
    assert data.train_y.dtype == np.float32 and data.train_y.shape == (48, NEURONS)
    assert data.raw_validation.shape == (3, 10, NEURONS)
    raw_val_x = np.load(root / "Data" / "region1" / "validation_inputs.npy")
    np.testing.assert_allclose(data.val_x, _zscore(raw_val_x), rtol=1e-5, atol=1e-6)
    direct = _load(root, **{k: v for k, v in params.items() if k not in ("base", "model")})
    np.testing.assert_array_equal(data.train_y, direct.train_y.astype(np.float32))
    assert data.meta["generated"]["train_noise_correlation"] > 0


def test_merged_regions_keep_their_blocks(world, tmp_path):
    from neuro_datasets import region_raw
    from neuro_datasets.generated import GeneratedDataset

    root, _ = world
    other = write_tiny_dataset(tmp_path / "other", neurons=4, n_val=7, seed=1)
    two = tmp_path / "two"
    (two / "Data").mkdir(parents=True)
    (two / "Data" / "region1").symlink_to(root / "Data" / "region1")
    (two / "Data" / "region2").symlink_to(other / "Data" / "region1")
    _save_model(two / "m.keras", [("normal", {"units": "N", "activation": "softplus"})], NEURONS + 4, 2)
    base = {**BASE, "regions": [1, 2]}
    data = GeneratedDataset({"base": base, "model": "m.keras", "noise": 0.5, "noise_draws": 5}, two).load()
    assert data.train_y.shape == (96, 10) and data.raw_validation.shape == (5, 17, 10)
    outside = data.val_mask == 0
    assert outside.any() and np.all(data.val_y[outside] == 0)
    assert np.all(data.train_y[data.train_mask == 0] == 0)
    assert np.all(np.isnan(data.raw_validation[:, outside]))
    assert not np.isnan(data.raw_validation[:, ~outside]).any()
    blocks = region_raw(data)
    assert [(name, block.shape) for name, block in blocks] == [("region1", (5, 10, 6)),
                                                               ("region2", (5, 7, 4))]
