"""The trainers as a table: which one trains a run, and which training keys each one honours.

The worker asks :func:`choose` for the run's entry, :meth:`TrainerEntry.check_options` refuses a
key the trainer cannot honour (set away from its default) with a one-line error naming it, and
the trainer class itself declares its memory estimate per replica (``replica_bytes``) and its
named checkpoint state (``state``/``load_state``, :mod:`.trainer_state`). This module imports no
TensorFlow: the classes are imported when a run needs one.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

from msc_neuro_cli.engine import training_schema as schema
from msc_neuro_cli.errors import ManifestError

COMMON = frozenset({"epochs", "summary_every", "train_correlation", "loss", "replicas", "xla", "correlation_nan_mode", "optimizer"})
MINIBATCH = frozenset({"batch_size", "partial_batch", "learning_rate", "beta1", "beta2", "epsilon"})


@dataclass(frozen=True)
class ModelSize:
    """What memory estimates need to know of a model and its data (one replica)."""

    n_weights: int
    rows: int
    in_features: int
    widest_layer: int


@dataclass(frozen=True)
class TrainerEntry:
    name: str
    path: str                       # "module:Class", imported on demand
    options: frozenset[str]         # training keys it honours
    chosen: Callable[[dict[str, Any], bool], bool]  # (training block, data left on disk) -> this one?
    ignored: dict[str, str] = field(default_factory=dict)  # keys without meaning for it: why

    def trainer_class(self) -> type:
        module, _, name = self.path.partition(":")
        return getattr(importlib.import_module(module), name)

    def check_options(self, training: dict[str, Any]) -> None:
        """Refuse a key this trainer does not honour when it is set away from its default."""
        for key, param in schema.TRAINING.items():
            if key in self.options or key in self.ignored:
                continue
            if training.get(key, param.default) != param.default:
                raise ManifestError(f"training.{key}: not available with the {self.name} trainer "
                                    f"({_why(self.name)}); remove it or use another optimizer")


def _why(name: str) -> str:
    return {"adam": "Adam on in-memory minibatches", "lbfgs": "full-batch L-BFGS in float32",
            "streaming": "Adam on minibatches streamed from disk"}[name]


_LINE_SEARCH = "L-BFGS sets its own step lengths by a line search over the full batch"
TRAINERS: tuple[TrainerEntry, ...] = (
    TrainerEntry("lbfgs", "msc_neuro_cli.engine.lbfgs:LbfgsTrainer", COMMON | {"lbfgs_memory", "early_stopping"},
                 lambda training, on_disk: training.get("optimizer") == "lbfgs",
                 ignored={key: _LINE_SEARCH for key in MINIBATCH}),
    TrainerEntry("streaming", "msc_neuro_cli.engine.streaming:StreamingTrainer", COMMON | MINIBATCH | {"precision"},
                 lambda training, on_disk: on_disk),
    TrainerEntry("adam", "msc_neuro_cli.engine.trainer:ReplicatedTrainer",
                 COMMON | MINIBATCH | {"precision", "early_stopping"}, lambda training, on_disk: True),
)


def choose(training: dict[str, Any], data_on_disk: bool) -> TrainerEntry:
    """The first entry of TRAINERS that wants this run (L-BFGS if asked, streaming for data left
    on disk, else Adam in memory), its options checked."""
    entry = next(e for e in TRAINERS if e.chosen(training, data_on_disk))
    entry.check_options(training)
    return entry


def by_name(name: str) -> TrainerEntry:
    return next(e for e in TRAINERS if e.name == name)
