"""Assemble a replicated model from a run's component list, and export one replica as Keras."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from msc_neuro_cli.errors import ManifestError
from msc_neuro_cli.plugin_system.params import resolve_params
from msc_neuro_cli.engine import precision as precision_ops
from msc_neuro_cli.engine.component import COMMON_PARAMS, AddReplicaAxis, DropReplicaAxis, ReplicatedLayer

_UNITS = re.compile(r"^\s*(?:(\d+(?:\.\d*)?|\.\d+)\s*\*?\s*)?N\s*$")


def resolve_units(value: Any, n_neurons: int, where: str) -> Any:
    """``"N"`` -> neurons, ``"0.2N"`` -> int(0.2 * neurons) (as the thesis pipeline's hidden sizes), ints stay."""
    if isinstance(value, str):
        match = _UNITS.match(value)
        if not match:
            raise ManifestError(f"{where}: units must be an integer, 'N' or a fraction like '0.2N', got {value!r}")
        fraction = float(match.group(1)) if match.group(1) else 1.0
        return max(1, int(fraction * n_neurons))
    return value


@dataclass
class ComponentSpec:
    """One entry of a run's model list, validated: ``component`` plus its parameters."""

    component: str
    params: dict[str, Any]
    where: str  # "experiments.yaml:12: experiments.demo.model[0]"


def layer_params(cls: type[ReplicatedLayer], spec: ComponentSpec) -> dict[str, Any]:
    declared = {**COMMON_PARAMS, **cls.PARAMS}
    try:
        return resolve_params(declared, spec.params, lambda key: f"{spec.where}{'.' + key if key else ''}")
    except ValueError as exc:
        raise ManifestError(str(exc)) from None


def _built_layer(spec: ComponentSpec, dims: tuple, n_neurons: int, replicas: int, components, name):
    cls = components.layers.get(spec.component)
    params = layer_params(cls, spec)
    if "units" in params:
        params["units"] = resolve_units(params["units"], n_neurons, f"{spec.where}.units")
    layer = cls(params=params, input_dims=dims, replicas=replicas, components=components, name=name)
    layer.build((replicas, None, int(np.prod(dims))))
    return layer


def assemble(specs: list[ComponentSpec], input_dims, n_neurons: int, replicas: int,
             components) -> list[ReplicatedLayer]:
    """Build the replicated layers in order, each reading the previous one's output dims."""
    layers: list[ReplicatedLayer] = []
    dims = tuple(input_dims)
    for i, spec in enumerate(specs):
        layer = _built_layer(spec, dims, n_neurons, replicas, components, f"{i:02d}_{spec.component}")
        _check_regularizers(layer, spec)
        dims = layer.output_dims()
        layers.append(layer)
    if int(np.prod(dims)) != n_neurons:
        raise ManifestError(f"{specs[-1].where}: the model ends with {int(np.prod(dims))} outputs "
                            f"but the dataset has {n_neurons} neurons")
    return layers


def _check_regularizers(layer: ReplicatedLayer, spec: ComponentSpec) -> None:
    """A regularizer with a strength must act on some weight: one the component cannot apply
    (no ``kernel`` and no ``regularized_weights`` of its own) would silently be zero."""
    for name, strength in (layer.params.get("regularizers") or {}).items():
        if strength and not layer.regularized_weights(name):
            raise ManifestError(f"{spec.where}.regularizers.{name}: component {spec.component!r} has no weight "
                                f"this regularizer applies to (it has {', '.join(layer.weight_shapes()) or 'none'})")


def probe_regularizers(spec: ComponentSpec, components, input_dims=(8, 8, 1), n_neurons: int = 4) -> None:
    """Plan-time form of :func:`_check_regularizers` (``neuro run --dry-run``): builds the one
    component on a nominal input; a component that cannot be built there is checked when its
    run assembles the model instead."""
    if not any((spec.params.get("regularizers") or {}).values()):
        return
    try:
        layer = _built_layer(spec, tuple(input_dims), n_neurons, 1, components, None)
    except Exception:  # the nominal input does not suit this component: checked at assembly
        return
    _check_regularizers(layer, spec)


def forward(layers: list[ReplicatedLayer], x, training: bool = False, precision: str = "float32"):
    """(R, batch, features) -> (R, batch, neurons). ``precision`` other than float32 computes in a
    low dtype and returns it in that dtype (:mod:`.precision`); float32 casts nothing."""
    dtype = precision_ops.compute_dtype(precision)
    if dtype is not None:
        return precision_ops.forward(layers, x, training, dtype)
    for layer in layers:
        x = layer(x, training=training)
    return x


def penalty(layers: list[ReplicatedLayer]):
    total = 0.0
    for layer in layers:
        total = total + layer.penalty()
    return total


def export_replica(layers: list[ReplicatedLayer], r: int) -> keras.Model:
    """A plain Keras model (batch, features) -> (batch, neurons) holding replica ``r``'s weights."""
    inputs = keras.Input((layers[0].in_features,), name="images")
    x = AddReplicaAxis(name="add_replica_axis")(inputs)
    for layer in layers:
        clone = layer.rebuilt(1)
        x = clone(x)
        clone.set_weights([np.asarray(w)[r:r + 1] for w in layer.get_weights()])
    outputs = DropReplicaAxis(name="drop_replica_axis")(x)
    return keras.Model(inputs, outputs)


def replica_weights(layers: list[ReplicatedLayer], r: int) -> list[np.ndarray]:
    """Replica ``r``'s weights, layer by layer, in the order ``get_weights`` lists them."""
    return [np.asarray(w)[r] for layer in layers for w in layer.get_weights()]


def predict(layers: list[ReplicatedLayer], x: np.ndarray, batch: int = 4096) -> np.ndarray:
    """Predictions of every replica on the same inputs: (R, rows, neurons), no dropout."""
    replicas = layers[0].replicas
    outs = []
    for start in range(0, len(x), batch):
        xb = tf.convert_to_tensor(x[start:start + batch], tf.float32)
        xb = tf.broadcast_to(xb[None], (replicas, *xb.shape))
        outs.append(forward(layers, xb, training=False).numpy())
    return np.concatenate(outs, axis=1)
