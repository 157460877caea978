"""A small contract kit for component plugins (used by the built-in plugins' tests).

Every component must: keep replicas independent (replica r of an R-replica model computes what a
one-replica model with replica r's seed computes), survive ``export_replica(...).save`` and
``keras.models.load_model`` with identical predictions, and train through the real trainer.
The helpers below build models exactly as a run does (``engine.model.assemble`` from component
specs) and check those three things.
"""

from __future__ import annotations

import math
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from msc_neuro_cli.engine import model as model_ops
from msc_neuro_cli.engine.model import ComponentSpec, assemble
from msc_neuro_cli.engine.trainer import ReplicatedTrainer, TrainingConfig
from msc_neuro_cli.plugin_system.manager import registries


def build(model: list[dict], input_dims, n_neurons: int, seeds: list[int]) -> list:
    """Assemble and initialise ``model`` (a manifest-style list of component dicts), one replica per seed."""
    specs = [ComponentSpec(m["component"], {k: v for k, v in m.items() if k != "component"},
                           where=f"test.model[{i}]") for i, m in enumerate(model)]
    layers = assemble(specs, input_dims, n_neurons, len(seeds), registries().components)
    for i, layer in enumerate(layers):  # the trainer's rule: generator [seed, layer index, 0]
        layer.initialise([np.random.default_rng([seed, i, 0]) for seed in seeds])
    return layers


def run(layers, x: np.ndarray, training: bool = False) -> np.ndarray:
    """Every replica's output on the same rows: (R, rows, outputs)."""
    xb = tf.convert_to_tensor(x, tf.float32)
    xb = tf.broadcast_to(xb[None], (layers[0].replicas, *xb.shape))
    return model_ops.forward(layers, xb, training=training).numpy()


def assert_replicas_independent(model, input_dims, n_neurons, x, seeds=(3, 5, 7), training=False,
                                rtol=1e-5, atol=1e-6) -> None:
    together = run(build(model, input_dims, n_neurons, list(seeds)), x, training)
    for r, seed in enumerate(seeds):
        alone = run(build(model, input_dims, n_neurons, [seed]), x, training)[0]
        np.testing.assert_allclose(together[r], alone, rtol=rtol, atol=atol,
                                   err_msg=f"replica {r} (seed {seed}) differs from a one-replica model")


def assert_export_roundtrip(layers, x, directory: Path, replica: int = 1) -> np.ndarray:
    """Export replica ``replica``, save, reload with Keras and compare predictions; returns them."""
    path = Path(directory) / f"replica{replica}.keras"
    model_ops.export_replica(layers, replica).save(path)
    reloaded = keras.models.load_model(path)
    expected = run(layers, x)[replica]
    got = reloaded.predict(np.asarray(x, np.float32), verbose=0)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    return got


def synthetic_data(input_dims, n_neurons: int, rows: int = 40, val_rows: int = 12, seed: int = 0):
    """Images and Poisson responses of a random rectified-linear population (train, val)."""
    rng = np.random.default_rng(seed)
    features = int(np.prod(input_dims))
    x = rng.normal(size=(rows + val_rows, features)).astype(np.float32)
    w = rng.normal(size=(features, n_neurons)) / np.sqrt(features)
    y = rng.poisson(np.log1p(np.exp(x @ w))).astype(np.float32)
    return (x[:rows], y[:rows]), (x[rows:], y[rows:])


def smoke_train(model, input_dims, n_neurons: int, seeds=(0, 1), epochs: int = 2, loss: str = "poisson",
                **config) -> tuple[ReplicatedTrainer, list]:
    """Train ``model`` for ``epochs`` through ReplicatedTrainer on synthetic data; returns (trainer, summaries).

    Defaults favour speed (no XLA, one replica group); pass ``xla=True`` etc. to test those paths.
    """
    (x, y), (vx, vy) = synthetic_data(input_dims, n_neurons)
    layers = build(model, input_dims, n_neurons, list(seeds))
    settings = {"batch_size": 8, "summary_every": 1, "loss": loss, "xla": False, **config}
    if "replica_groups" in TrainingConfig.__dataclass_fields__:  # one group: no per-core clones
        settings.setdefault("replica_groups", 1)
    trainer = ReplicatedTrainer(layers, registries().components.losses.get(loss),
                                TrainingConfig(epochs=epochs, **settings), list(seeds), x, y, vx, vy)
    trainer.initialise()
    summaries = []
    trainer.train(on_summary=summaries.append)
    return trainer, summaries


def numpy_conv(image, kernel, stride: int = 1, padding: str = "same") -> np.ndarray:
    """Reference: cross-correlation of one (y, x, c) image with (kh, kw, c, K), TF's SAME/VALID rules."""
    (h, w, _), (kh, kw, _, k) = image.shape, kernel.shape
    if padding == "same":
        oh, ow = math.ceil(h / stride), math.ceil(w / stride)
        ph, pw = max((oh - 1) * stride + kh - h, 0), max((ow - 1) * stride + kw - w, 0)
        image = np.pad(image, [(ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)])
    else:
        oh, ow = math.ceil((h - kh + 1) / stride), math.ceil((w - kw + 1) / stride)
    out = np.zeros((oh, ow, k))
    for i in range(oh):
        for j in range(ow):
            patch = image[i * stride:i * stride + kh, j * stride:j * stride + kw]
            out[i, j] = np.tensordot(patch, kernel, axes=3)
    return out
