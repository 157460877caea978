"""Small replicated perceptrons on per-trial side inputs (behaviour, pupil centre).

An MLP of ``layers`` linear maps, widths d -> hidden -> ... -> hidden -> out, each followed by
``hidden_activation`` except the last, whose output the caller transforms. Weights are named
``{prefix}_w{i}`` (in, out) and ``{prefix}_b{i}`` (out) and carry the replica axis like every
other weight; weights start Xavier-normal (as neuralpredictors' shifter and modulator), biases 0.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from msc_neuro_cli.api.layers import side_inputs
from neuro_basics.initializers import xavier_normal


class ReadsSideInputs:
    """Mixin for layers whose forward pass reads side inputs: Keras builds a functional model (an
    export, a reloaded file) by tracing each layer with symbolic inputs, where nothing is
    published; the output shape is known without running the layer, so tell Keras directly."""

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], self.out_features)


def mlp_shapes(prefix: str, n_in: int, hidden: int, layers: int, n_out: int) -> dict[str, tuple[int, ...]]:
    sizes = [n_in] + [hidden] * (layers - 1) + [n_out]
    shapes: dict[str, tuple[int, ...]] = {}
    for i in range(layers):
        shapes[f"{prefix}_w{i}"] = (sizes[i], sizes[i + 1])
        shapes[f"{prefix}_b{i}"] = (sizes[i + 1],)
    return shapes


def mlp_initial(shape, rng: np.random.Generator) -> np.ndarray:
    if len(shape) == 1:
        return np.zeros(shape)
    return xavier_normal(rng, shape, shape[0], shape[1])


def mlp_forward(layer, prefix: str, x, layers: int, hidden_activation):
    """``x`` (R, B, d) -> (R, B, out), the last layer linear."""
    h = x
    for i in range(layers):
        h = tf.matmul(h, layer.weight(f"{prefix}_w{i}")) + layer.weight(f"{prefix}_b{i}")[:, None, :]
        if i < layers - 1:
            h = hidden_activation(h)
    return h


def side_rows(layer, name: str, width: int, dtype):
    """The published rows of dataset variable ``name`` for ``layer``, checked to be ``width`` wide."""
    who = f"{layer.name} ({type(layer).__name__})"
    rows = side_inputs.read(name, who, layer.replicas)
    if rows.shape[-1] is not None and rows.shape[-1] != width:
        raise side_inputs.SideInputError(
            f"{who}: expects {width} values of {name!r} per trial, the dataset has {rows.shape[-1]}")
    return tf.cast(rows, dtype)
