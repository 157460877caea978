"""The plugin API for model components (imports TensorFlow): the replicated layer base class, the
helpers a layer's forward pass may use, and building a model from component specs as a run does.

Import it from the modules that define layers (registered as lazy ``"module:Class"`` references),
never from a plugin's ``__init__``: commands that build no model must not import TensorFlow.
"""

from __future__ import annotations

from msc_neuro_cli.engine import batch_rows, side_inputs
from msc_neuro_cli.engine.component import ReplicatedLayer
from msc_neuro_cli.engine.model import ComponentSpec, assemble, export_replica, forward, replica_weights
from msc_neuro_cli.engine.precision import current as current_compute_dtype
from msc_neuro_cli.engine.products import batched_product, dense_product, image_product
from msc_neuro_cli.engine.xla_hints import backward_scope, materialized

__all__ = [
    # the base class
    "ReplicatedLayer",
    # helpers of a forward pass
    "dense_product", "image_product", "batched_product", "backward_scope", "materialized",
    "current_compute_dtype", "batch_rows", "side_inputs",
    # building and exporting models
    "ComponentSpec", "assemble", "forward", "export_replica", "replica_weights",
]
