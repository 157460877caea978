"""Every key of a manifest's ``training:`` and ``training.early_stopping:`` blocks, declared once.

Manifest validation and planning (:mod:`msc_neuro_cli.spec.plan`), the worker
(``TrainingConfig.from_spec``), memory estimates (:mod:`.placement`) and the table in
docs/manifest.md all read these declarations. This module imports no TensorFlow, so validating a
manifest stays fast.

Keys listed in ``ADDED_LATER`` appeared after runs were already stored: the planner writes them
into a run's spec only when they differ from their default, so the specs (and spec hashes) of
runs that do not use them stay what they were. ``python -m msc_neuro_cli.engine.training_schema
--markdown`` prints the tables of docs/manifest.md.
"""

from __future__ import annotations

import math
import sys
from typing import Any

from msc_neuro_cli.plugin_system.params import Param

class Bounds:
    """A float key's check: finite (no ``.nan``/``.inf``) and within its bounds; ``text`` is what
    the docs' "allowed" column says (empty when the Param's minimum/maximum already say it)."""

    def __init__(self, low: float | None = None, high: float | None = None, low_open: bool = False,
                 high_open: bool = False, text: str = ""):
        self.low, self.high, self.low_open, self.high_open, self.text = low, high, low_open, high_open, text

    def __call__(self, value: float) -> str | None:
        if not math.isfinite(value):
            return f"must be a finite number, got {value!r}"
        if self.low is not None and (value <= self.low if self.low_open else value < self.low) or \
                self.high is not None and (value >= self.high if self.high_open else value > self.high):
            return f"must be {self.text}, got {value!r}"
        return None


FINITE = Bounds()  # for keys whose minimum/maximum are the Param's own
POSITIVE = Bounds(0.0, low_open=True, text="> 0")
BETA = Bounds(0.0, 1.0, high_open=True, text=">= 0, < 1")

TRAINING: dict[str, Param] = {
    "epochs": Param(int, 5000, "training epochs (L-BFGS: iterations)", minimum=1),
    "batch_size": Param(int, 16, "minibatch size", minimum=1),
    "learning_rate": Param(float, 1e-3, "Adam learning rate", check=POSITIVE),
    "beta1": Param(float, 0.9, "Adam beta1 (NDN3's default)", check=BETA),
    "beta2": Param(float, 0.999, "Adam beta2 (NDN3's default)", check=BETA),
    "epsilon": Param(float, 1e-8, "Adam epsilon (NDN3's default)", check=POSITIVE),
    "summary_every": Param(int, 100, "metrics at epoch 0, every epoch with epoch % N == N - 1 "
                           "(the thesis pipeline's schedule) and the last", minimum=1),
    "train_correlation": Param(str, "every_summary", "when the training set's correlation is computed: "
                               "every_summary (a forward pass over every training row at each summary), or "
                               "final (only for the record: faster for big models)",
                               choices=("every_summary", "final")),
    "partial_batch": Param(str, "keep", "last partial batch: keep, ceil(N/batch) batches (the thesis "
                           "pipeline's fork), or drop, N // batch (upstream NDN3)", choices=("keep", "drop")),
    "loss": Param(str, "poisson", "a loss plugin (poisson, poisson_summed, gaussian)"),
    "replicas": Param((int, str), "auto", "repetitions trained together in one replicated model: "
                      "auto (as many as fit in half the free memory) or a number"),
    "xla": Param(bool, True, "compile the training loop with XLA"),
    "correlation_nan_mode": Param(str, "zero-NaNs", "NaN handling of per-neuron correlations",
                                  choices=("zero-NaNs", "filter-NaNs", "filter-low-std-gold")),
    "optimizer": Param(str, "adam", "adam, or lbfgs: full-batch L-BFGS, one iteration per epoch, "
                       "for small models (docs/performance.md)", choices=("adam", "lbfgs")),
    "lbfgs_memory": Param(int, 10, "L-BFGS correction pairs kept (history size)", minimum=1),
    "precision": Param(str, "float32", "float32, or mixed_bfloat16: forward pass in bfloat16, weights "
                       "and optimiser in float32", choices=("float32", "mixed_bfloat16")),
    "early_stopping": Param(dict, None, "off (the thesis pipeline), or a mapping of the "
                            "training.early_stopping options"),
}

EARLY_STOPPING: dict[str, Param] = {
    "validation_fraction": Param(float, 0.1, "fraction of the training rows held out to monitor "
                                 "(datasets with a validation tier monitor that tier instead)",
                                 minimum=0.0, maximum=0.9, check=FINITE),
    "patience": Param(int, 5, "checks without improvement before a decay step (or the stop)", minimum=1),
    "check_every": Param(int, 10, "epochs between checks of the monitored value", minimum=1),
    "lr_decay_steps": Param(int, 0, "times the learning rate is multiplied by lr_decay_factor "
                            "before a repetition stops", minimum=0),
    "lr_decay_factor": Param(float, 0.3, "learning-rate factor of a decay step", minimum=0.0, maximum=1.0,
                             check=FINITE),
    "restore_best": Param(bool, True, "end with the weights of the best check"),
    "restore_on_decay": Param(bool, False, "at each decay step go back to the weights of the best check "
                              "(the field's scheme, neuralpredictors' early_stopping)"),
    "min_delta": Param(float, 0.0, "improvement of the monitored value that counts", minimum=0.0,
                       check=FINITE),
    "monitor": Param(str, "loss", "loss: the held-out data loss (lower is better); correlation: the "
                     "mean per-neuron correlation (higher is better)", choices=("loss", "correlation")),
    "min_lr": Param(float, 0.0, "a decay step that would take the learning rate below this stops "
                    "the repetition instead", minimum=0.0, check=FINITE),
}

# (block, key) pairs written into a spec only when set away from their default (module doc).
ADDED_LATER: frozenset[tuple[str, str]] = frozenset({("early_stopping", "monitor"),
                                                     ("early_stopping", "min_lr"),
                                                     ("early_stopping", "restore_on_decay"),
                                                     ("training", "train_correlation")})

DEFAULT_BATCH_SIZE: int = TRAINING["batch_size"].default


def defaults(block: dict[str, Param]) -> dict[str, Any]:
    """Every key of ``block`` with its default."""
    return {key: param.default for key, param in block.items()}


def frozen(block_name: str, resolved: dict[str, Any], block: dict[str, Param]) -> dict[str, Any]:
    """``resolved`` as written into a spec: keys of ADDED_LATER left out while at their default."""
    return {key: value for key, value in resolved.items()
            if (block_name, key) not in ADDED_LATER or value != block[key].default}


def with_defaults(given: dict[str, Any] | None, block: dict[str, Param]) -> dict[str, Any]:
    """A spec's block completed with defaults (specs frozen before a key existed lack it)."""
    return {**defaults(block), **(given or {})}


# ---------------------------------------------------------------------------- docs
def _cell(value: Any) -> str:
    if value is None:
        return "off"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def _allowed(param: Param) -> str:
    if param.choices:
        return ", ".join(f"`{c}`" for c in param.choices)
    low = "" if param.minimum is None else f">= {param.minimum:g}"
    high = "" if param.maximum is None else f"<= {param.maximum:g}"
    return ", ".join(p for p in (low, high, getattr(param.check, "text", "")) if p)


def markdown_table(block: dict[str, Param]) -> str:
    lines = ["| key | type | default | allowed | meaning |", "|---|---|---|---|---|"]
    for key, param in block.items():
        lines.append(f"| `{key}` | {param.describe_type()} | {_cell(param.default)} | {_allowed(param)} "
                     f"| {param.help} |")
    return "\n".join(lines)


def markdown() -> str:
    """The tables of docs/manifest.md, between its training-schema markers."""
    return (f"{markdown_table(TRAINING)}\n\n#### `training.early_stopping`\n\n{markdown_table(EARLY_STOPPING)}\n")


def main(argv: list[str]) -> int:
    if argv != ["--markdown"]:
        print("usage: python -m msc_neuro_cli.engine.training_schema --markdown", file=sys.stderr)
        return 2
    print(markdown(), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
