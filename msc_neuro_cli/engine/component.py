"""The contract every model component follows: a Keras layer whose weights carry a replica axis.

All repetitions (seeds) of a run train together: a layer built for ``replicas=R`` holds weights of
shape ``(R, ...)`` and maps inputs ``(R, batch, in_features)`` to ``(R, batch, out_features)``.
Replica ``r`` only ever touches slice ``r`` of each weight, so R seeds train exactly as R separate
models would. Inputs and outputs are flat; ``input_dims = (y, x, channels)`` says how to read them
as an image (``(1, 1, n)`` for a plain vector).
"""

from __future__ import annotations

from typing import Any, ClassVar

import keras
import numpy as np
import tensorflow as tf

from msc_neuro_cli.engine import precision
from msc_neuro_cli.errors import RegistryError
from msc_neuro_cli.plugin_system.params import COMMON_PARAMS, Param  # noqa: F401  (COMMON_PARAMS re-exported)


@keras.saving.register_keras_serializable(package="neuro")
class ReplicatedLayer(keras.layers.Layer):
    """Base class of model components.

    Subclasses set ``PARAMS`` (their hyperparameters, validated by the manifest), and implement
    ``weight_shapes``, ``initial_value``, ``output_dims`` and ``forward``. Optionally
    ``regularized_weights`` (which weights a regularizer sees, in ``(R, y, x, c, units)`` layout)
    and ``constraints`` (projections applied after every optimiser step).

    Activation, regularizer and initializer names resolve in the ``ComponentRegistry`` the layer
    is built with (``components``, handed by ``engine.model.assemble``); a layer Keras rebuilds
    from a saved file has none and uses ``home_registry``, the registry that loaded its class.
    """

    PARAMS: ClassVar[dict[str, Param]] = {}
    home_registry: ClassVar[Any] = None  # set by the ComponentRegistry that loads the class

    def __init__(self, params: dict[str, Any], input_dims, replicas: int = 1, components=None, **kwargs):
        super().__init__(**kwargs)
        self._components = components  # the ComponentRegistry to resolve names in
        self.params = dict(params)
        self.input_dims = tuple(int(d) for d in input_dims)
        self.replicas = int(replicas)
        self._activation = None
        self._vars: dict[str, keras.Variable] = {}

    # --- what subclasses implement -------------------------------------------------------
    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        """Weight name -> shape of one replica's weight."""
        raise NotImplementedError

    def initial_value(self, name: str, rng: np.random.Generator) -> np.ndarray:
        """One replica's initial value of weight ``name``, drawn from ``rng`` only."""
        raise NotImplementedError

    def output_dims(self) -> tuple[int, int, int]:
        raise NotImplementedError

    def forward(self, x, training: bool):
        """``x``: (R, batch, in_features) -> pre-activation (R, batch, out_features)."""
        raise NotImplementedError

    def regularized_weights(self, regularizer: str) -> list:
        """Weights seen by ``regularizer``, each shaped (R, y, x, channels, units)."""
        kernel = self._vars.get("kernel")
        if kernel is None:
            return []
        y, x, c = self.input_dims
        return [tf.reshape(kernel, (self.replicas, y, x, c, -1))]

    def constraints(self) -> dict[str, Any]:
        """Weight name -> ``fn(value) -> projected value`` applied after each optimiser step."""
        return {}

    # --- shared machinery ---------------------------------------------------------------
    def components(self):
        """The registry that resolves activation, regularizer and initializer names."""
        found = self._components if self._components is not None else type(self).home_registry
        if found is None:
            raise RegistryError(f"layer {self.name!r} ({type(self).__name__}) has no component registry: build "
                                "it with engine.model.assemble, or load saved models with load_model")
        return found

    def rebuilt(self, replicas: int) -> "ReplicatedLayer":
        """An unbuilt copy of this layer for ``replicas`` replicas, resolving names in the same registry."""
        clone = type(self).from_config({**self.get_config(), "replicas": int(replicas)})
        clone._components = self._components
        return clone

    def initializer(self, name: str):
        return self.components().initializers.get(name)

    @property
    def in_features(self) -> int:
        y, x, c = self.input_dims
        return y * x * c

    @property
    def out_features(self) -> int:
        y, x, c = self.output_dims()
        return y * x * c

    def build(self, input_shape=None):
        for name, shape in self.weight_shapes().items():
            self._vars[name] = self.add_weight(
                name=name, shape=(self.replicas, *shape), initializer="zeros", trainable=True)
        self._activation = self.components().activations.get(self.params.get("activation", "lin"))
        super().build(input_shape)

    def weight(self, name: str, exact: bool = False):
        """Weight ``name`` as the forward pass uses it: the float32 variable, or inside a
        mixed-precision forward pass its value cast to the low dtype (:mod:`.precision`).
        ``exact=True`` always gives the float32 variable (for weights that parametrise a
        construction, like Gaussian centres; cast the result to ``x.dtype`` before using it)."""
        return self._vars[name] if exact else precision.read(self._vars[name])

    def initialise(self, rngs: list[np.random.Generator]) -> None:
        """Give each replica its own initial weights from its own random generator."""
        if len(rngs) != self.replicas:
            raise ValueError(f"{self.name}: {len(rngs)} generators for {self.replicas} replicas")
        for name in self.weight_shapes():
            stacked = np.stack([self.initial_value(name, rng) for rng in rngs]).astype("float32")
            self._vars[name].assign(stacked)

    def apply_constraints(self) -> None:
        for name, project in self.constraints().items():
            var = self._vars[name]
            var.assign(project(var.value))

    def penalty(self):
        """Per-replica regularisation penalty, shape (R,)."""
        total = tf.zeros((self.replicas,), tf.float32)
        for reg_name, strength in (self.params.get("regularizers") or {}).items():
            if not strength:
                continue
            fn = self.components().regularizers.get(reg_name)
            for w in self.regularized_weights(reg_name):
                total = total + fn(w, float(strength))
        return total

    def call(self, x, training=False):
        return self._activation(self.forward(x, bool(training)))

    def get_config(self):
        config = super().get_config()
        config.update(params=self.params, input_dims=list(self.input_dims), replicas=self.replicas)
        return config


@keras.saving.register_keras_serializable(package="neuro")
class AddReplicaAxis(keras.layers.Layer):
    """(batch, features) -> (1, batch, features): lets an exported single model take plain input."""

    def call(self, x):
        return tf.expand_dims(x, 0)


@keras.saving.register_keras_serializable(package="neuro")
class DropReplicaAxis(keras.layers.Layer):
    def call(self, x):
        return x[0]
