"""Mixed precision: float32 untouched; mixed_bfloat16 computes the forward pass in bfloat16 and
trains to within a measured tolerance of float32 (docs/performance.md)."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
import tensorflow as tf

from msc_neuro_cli.engine import precision
from msc_neuro_cli.engine.component import ReplicatedLayer
from msc_neuro_cli.engine.model import ComponentSpec, assemble, forward, replica_weights
from msc_neuro_cli.engine.trainer import MAX_EPOCHS_PER_CALL, ReplicatedTrainer, TrainingConfig
from msc_neuro_cli.errors import ManifestError
from msc_neuro_cli.plugin_system.manager import registries

SIDE, NEURONS, ROWS, VAL = 9, 6, 240, 60


def _data(seed=0):
    """Poisson responses of Gaussian receptive fields, so that correlations mean something."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(ROWS + VAL, SIDE * SIDE)).astype("float32")
    yy, xx = np.mgrid[:SIDE, :SIDE]
    cy, cx = rng.uniform(3, SIDE - 3, (2, NEURONS))
    rf = np.exp(-((yy[..., None] - cy) ** 2 + (xx[..., None] - cx) ** 2) / 4.0).reshape(SIDE * SIDE, NEURONS)
    y = rng.poisson(np.log1p(np.exp(0.5 * x @ rf))).astype("float32")
    return x[:ROWS], y[:ROWS], x[ROWS:], y[ROWS:]


def _hsm_specs():
    return [ComponentSpec("diff_of_gaussians", {"units": 3}, "t[0]"),
            ComponentSpec("normal", {"units": 4, "activation": "softplus"}, "t[1]"),
            ComponentSpec("normal", {"units": "N", "activation": "softplus", "regularizers": {"l2": 0.1}}, "t[2]")]


def _trainer(precision_name, epochs, seeds=(0, 1), **config):
    reg = registries().components
    layers = assemble(_hsm_specs(), (SIDE, SIDE, 1), NEURONS, len(seeds), reg)
    cfg = TrainingConfig(epochs=epochs, summary_every=epochs, learning_rate=1e-2, xla=False,
                         precision=precision_name, **config)
    trainer = ReplicatedTrainer(layers, reg.losses.get("poisson"), cfg, list(seeds), *_data())
    trainer.initialise()  # same seeds: the same initial weights in both precisions
    return trainer


def _dense(replicas=2, activation="softplus", seed=0):
    reg = registries().components
    layers = assemble([ComponentSpec("normal", {"units": "N", "activation": activation}, "t[0]")],
                      (1, 1, 7), 5, replicas, reg)
    layers[0].initialise([np.random.default_rng([seed, r]) for r in range(replicas)])
    return layers


def test_unknown_precision_is_a_one_line_manifest_error():
    with pytest.raises(ManifestError, match="training.precision.*mixed_bfloat16.*'float8'"):
        precision.compute_dtype("float8")


@pytest.mark.slow
def test_float32_reads_the_variables_themselves_and_compiles_no_low_precision_op():
    layers = _dense()
    assert precision.current() is None
    assert layers[0].weight("kernel") is layers[0]._vars["kernel"]  # no cast, no copy
    graphs = {}
    for name in ("float32", "mixed_bfloat16"):
        trainer = _trainer(name, epochs=1)
        group = trainer.groups[0]
        orders = tf.zeros((MAX_EPOCHS_PER_CALL, group.replicas, trainer.padded_rows), tf.int32)
        graph = group.chunk.get_concrete_function(*group.chunk_args(orders, 0, 1)).graph.as_graph_def()
        graphs[name] = str(graph)  # includes the loop body's function library
        assert group.forward_dtype == (tf.float32 if name == "float32" else tf.bfloat16)
    assert "DT_BFLOAT16" not in graphs["float32"]
    assert "DT_BFLOAT16" in graphs["mixed_bfloat16"]  # the check above can fail


def test_mixed_dense_layer_computes_in_bfloat16_like_numpy():
    layers = _dense()
    x = np.random.default_rng(5).normal(size=(2, 11, 7)).astype("float32")
    low = forward(layers, tf.constant(x), precision="mixed_bfloat16")
    high = forward(layers, tf.constant(x)).numpy()
    assert low.dtype == tf.bfloat16
    # Independent reference: inputs and weights rounded to bfloat16, products summed in float64.
    kernel, bias = (np.asarray(w) for w in layers[0].get_weights())
    as_bf16 = lambda a: a.astype(ml_dtypes.bfloat16).astype(np.float64)  # noqa: E731
    z = np.einsum("rbi,rio->rbo", as_bf16(x), as_bf16(kernel)) + as_bf16(bias)[:, None, :]
    expected = np.log1p(np.exp(z))
    got = low.numpy().astype(np.float64)
    np.testing.assert_allclose(got, expected, rtol=2e-2, atol=2e-2)
    assert not np.array_equal(got.astype(np.float32), high)  # really reduced precision
    assert precision.current() is None  # the context does not leak out of the forward pass
    assert layers[0].weight("kernel").dtype == "float32"


class _Float32Only(ReplicatedLayer):
    """A component mixing its input with a float32 constant: it cannot trace in bfloat16."""

    def weight_shapes(self):
        return {"scale": (self.in_features,)}

    def initial_value(self, name, rng):
        return rng.uniform(0.5, 1.5, self.in_features)

    def output_dims(self):
        return self.input_dims

    def forward(self, x, training):
        return x * self.weight("scale")[:, None, :] + tf.constant(0.25, tf.float32)


def test_component_that_cannot_compute_low_computes_in_float32():
    layer = _Float32Only({"activation": "lin"}, (1, 1, 5), replicas=2, components=registries().components)
    layer.build((2, None, 5))
    layer.initialise([np.random.default_rng(r) for r in range(2)])
    assert not precision.supports(layer, tf.bfloat16)
    dense = _dense()[0]
    assert precision.supports(dense, tf.bfloat16)
    x = tf.constant(np.random.default_rng(1).normal(size=(2, 3, 5)).astype("float32"))
    out = forward([layer], x, precision="mixed_bfloat16")
    assert out.dtype == tf.float32
    np.testing.assert_array_equal(out.numpy(), forward([layer], x).numpy())  # exactly float32


@pytest.mark.slow
def test_mixed_bfloat16_trains_within_tolerance_of_float32():
    epochs = 30
    results = {}
    for name in ("float32", "mixed_bfloat16"):
        trainer = _trainer(name, epochs)
        summaries = []
        trainer.train(on_summary=summaries.append)
        results[name] = (trainer, summaries[-1])
    (full, s32), (mixed, s16) = results["float32"], results["mixed_bfloat16"]
    assert mixed.groups[0].forward_dtype == tf.bfloat16 and full.groups[0].forward_dtype == tf.float32
    corr32, corr16 = s32.val_correlation.mean(axis=1), s16.val_correlation.mean(axis=1)
    assert corr32.min() > 0.3  # the model learned something: the comparison is not vacuous
    # Measured: |delta corr| <= 0.001, weights within 2.5% of their largest value, predictions 1.6%.
    np.testing.assert_allclose(corr16, corr32, atol=0.01)
    for r in range(2):
        for w32, w16 in zip(replica_weights(full.layers, r), replica_weights(mixed.layers, r)):
            np.testing.assert_allclose(w16, w32, atol=0.05 * np.abs(w32).max())
    _, _, val_x, _ = _data()
    p32, p16 = full.predict(val_x), mixed.predict(val_x)
    assert p16.dtype == np.float32
    np.testing.assert_allclose(p16, p32, atol=0.03 * np.abs(p32).max())
    # Mixed predictions of the same weights differ from float32 ones only by bfloat16 rounding.
    full_on_mixed_weights = _trainer("float32", epochs)
    full_on_mixed_weights.load_state(mixed.state())
    p_same = full_on_mixed_weights.predict(val_x)
    assert not np.array_equal(p_same, p16)
    np.testing.assert_allclose(p16, p_same, atol=0.02 * np.abs(p_same).max())
