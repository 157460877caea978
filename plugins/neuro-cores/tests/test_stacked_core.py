"""stacked_core (the field's standard core) against a direct numpy computation of every layer."""

import numpy as np
import pytest

from msc_neuro_cli.api import ManifestError
from msc_neuro_cli.api.layers import batch_rows
from msc_neuro_cli.api.testing import assert_export_roundtrip, assert_replicas_independent, build, run, smoke_train
from neuro_basics.testing import numpy_conv

DIMS = (7, 8, 1)
C = 3
X = np.random.default_rng(0).normal(size=(5, 56)).astype(np.float32)
SMALL = {"channels": C, "layers": 3, "input_width": 3, "hidden_width": 3}


def core(seeds=(0, 1), **params):
    """The core of a core + readout model (a model must end in the dataset's neurons)."""
    spec = {"component": "stacked_core", **SMALL, **params}
    return build([spec, {"component": "point_gaussian_readout", "units": 2}], DIMS, 2, list(seeds))[0]


def elu(v):
    return np.where(v > 0, v, np.expm1(v))


def depthwise(h, w):
    """(H, W, C) by (k, k, C), one filter per channel, SAME."""
    return np.concatenate([numpy_conv(h[..., c:c + 1], w[:, :, c:c + 1, None]) for c in range(h.shape[-1])], axis=-1)


def numpy_core(layer, r, x, statistics):
    """Replica r's output for rows x; ``statistics(l, z)`` gives the (mean, var) used by layer l."""
    v = {name: var.numpy()[r] for name, var in layer._vars.items()}
    p = layer.params
    h = np.stack([numpy_conv(row.reshape(DIMS), v["input_kernel"], padding="valid") for row in x])
    outs = []
    for l in range(p["layers"]):
        if l:
            if p["hidden"] == "full":
                h = np.stack([numpy_conv(img, v[f"full_{l}"]) for img in h])
            else:
                if p["hidden"] == "separable":
                    h = h @ v[f"pointwise_in_{l}"]
                h = np.stack([depthwise(img, v[f"depthwise_{l}"]) for img in h]) @ v[f"pointwise_{l}"]
        mean, var = statistics(l, h, v)
        h = v[f"gamma_{l}"] * (h - mean) / np.sqrt(var + p["epsilon"]) + v[f"beta_{l}"]
        if l < p["layers"] - 1 or p["final_nonlinearity"]:
            h = elu(h)
        outs.append(h)
    chosen = list(range(p["layers"]))[p["stack"]:] if isinstance(p["stack"], int) else p["stack"]
    return np.concatenate([outs[i] for i in chosen], axis=-1).reshape(len(x), -1)


def randomise(layer, rng):
    for name, var in layer._vars.items():
        if name.startswith("moving_variance"):
            var.assign(rng.uniform(0.5, 2.0, size=var.shape).astype(np.float32))
        else:
            var.assign(rng.normal(size=var.shape).astype(np.float32) * (0.5 if "moving" in name else 1.0))


@pytest.mark.parametrize("hidden", ["separable", "depthwise", "full"])
@pytest.mark.parametrize("stack", [-1, -2, [0, 2]])
def test_evaluation_equals_a_direct_computation(hidden, stack):
    layer = core(hidden=hidden, stack=stack)
    randomise(layer, np.random.default_rng(1))
    got = run([layer], X)
    for r in range(2):
        moving = lambda l, h, v: (v[f"moving_mean_{l}"], v[f"moving_variance_{l}"])  # noqa: E731
        np.testing.assert_allclose(got[r], numpy_core(layer, r, X, moving), rtol=2e-4, atol=2e-4)


def test_training_normalises_with_the_real_rows_of_the_batch_and_updates_the_moving_averages():
    layer = core(final_nonlinearity=False, momentum=0.1)
    randomise(layer, np.random.default_rng(2))
    before = {name: var.numpy() for name, var in layer._vars.items()}
    valid = np.array([1, 1, 1, 1, 0], np.float32)  # the last row pads a kept partial batch
    with batch_rows.valid_rows(valid):
        got = run([layer], X, training=True)
    seen = {}

    def batch(l, h, v):
        real = h[valid == 1]
        seen[l] = (real.mean(axis=(0, 1, 2)), real.var(axis=(0, 1, 2)))
        return seen[l]

    for r in range(2):
        expected = numpy_core(layer, r, X, batch)
        np.testing.assert_allclose(got[r][:4], expected[:4], rtol=5e-4, atol=5e-4)
        for l in range(3):
            np.testing.assert_allclose(layer._vars[f"moving_mean_{l}"].numpy()[r],
                                       0.1 * before[f"moving_mean_{l}"][r] + 0.9 * seen[l][0], rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(layer._vars[f"moving_variance_{l}"].numpy()[r],
                                       0.1 * before[f"moving_variance_{l}"][r] + 0.9 * seen[l][1], rtol=1e-4, atol=1e-5)


def test_the_laplace_penalty_on_the_first_layer_equals_numpy():
    layer = core(regularizers={"laplace_l2norm": 2.5})
    kernel = layer._vars["input_kernel"].numpy()  # (R, k, k, 1, C)
    padded = np.pad(kernel, [(0, 0), (1, 1), (1, 1), (0, 0), (0, 0)])
    lap = (4 * kernel - padded[:, :-2, 1:-1] - padded[:, 2:, 1:-1] - padded[:, 1:-1, :-2] - padded[:, 1:-1, 2:])
    expected = 2.5 * (lap ** 2).sum(axis=(1, 2, 3, 4)) / (kernel ** 2).sum(axis=(1, 2, 3, 4))
    np.testing.assert_allclose(layer.penalty().numpy(), expected, rtol=1e-5)


def test_defaults_are_the_field_standard_core():
    layer = build([{"component": "stacked_core"}, {"component": "point_gaussian_readout", "units": "N"}],
                  (36, 64, 1), 1000, [0])[0]
    assert layer.output_dims() == (28, 56, 64)
    core_weights = sum(int(np.prod(v.shape)) for v in layer.trainable_variables)
    readout_weights = 1000 * (64 + 2 + 3 + 1)
    assert 105_000 < core_weights + readout_weights < 112_000  # about 111k in the reference (its sigma has 4)
    assert layer.params["regularizers"] == {"laplace_l2norm": 0.0294}
    kernel = layer._vars["input_kernel"].numpy()
    np.testing.assert_allclose(kernel.std(), np.sqrt(2 / (81 + 64 * 81)), rtol=0.05)  # Xavier, PyTorch's fans


@pytest.mark.parametrize("params,message", [
    ({"hidden_width": 4}, "odd width"), ({"stack": 3}, "stack"), ({"stack": "last"}, "stack"),
    ({"input_width": 9}, "does not fit"), ({"hidden": "dilated"}, r"model\[0\]\.hidden: expected one of"),
    ({"channels": 0}, r"model\[0\]\.channels: must be at least 1"), ({"momentum": 1.5}, "momentum")])
def test_bad_settings_are_one_line_errors(params, message):
    with pytest.raises(ManifestError, match=message):
        core(**params)


@pytest.mark.parametrize("training", [False, True])
def test_replicas_are_independent(training):
    model = [{"component": "stacked_core", **SMALL, "stack": -2},
             {"component": "point_gaussian_readout", "units": "N", "activation": "elu1"}]
    assert_replicas_independent(model, DIMS, 3, X, training=training, rtol=1e-4, atol=1e-5)


def test_export_reloads_and_predicts_identically(tmp_path):
    layers = build([{"component": "stacked_core", **SMALL}, {"component": "point_gaussian_readout", "units": "N"}],
                   DIMS, 3, [0, 1])
    randomise(layers[0], np.random.default_rng(3))
    assert_export_roundtrip(layers, X, tmp_path)


def test_a_replica_trained_alone_equals_the_same_replica_trained_among_four():
    model = [{"component": "stacked_core", **SMALL},
             {"component": "point_gaussian_readout", "units": "N", "activation": "elu1", "init_sigma": 0.2}]
    together, _ = smoke_train(model, DIMS, 3, seeds=(4, 5, 6, 7), epochs=2)
    alone, _ = smoke_train(model, DIMS, 3, seeds=(6,), epochs=2)
    for a, b in zip(alone.layers, together.layers):
        for va, vb in zip(a.weights, b.weights):
            np.testing.assert_allclose(va.numpy()[0], vb.numpy()[2], rtol=2e-3, atol=2e-4, err_msg=va.name)
