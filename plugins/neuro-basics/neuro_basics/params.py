"""Parameter declarations shared by the component plugins, importable without TensorFlow (the
manifest is validated, and sweeps planned, from these alone)."""

from __future__ import annotations

from msc_neuro_cli.api import Param


def _check_regularizers(allowed):
    def check(value):
        if not isinstance(value, dict):
            return "expected a mapping regularizer name -> strength"
        for name, strength in value.items():
            if allowed is not None and name not in allowed:
                return f"regularizer {name!r} does not apply to this component (allowed: {', '.join(allowed)})"
            if isinstance(strength, bool) or not isinstance(strength, (int, float)) or strength < 0:
                return f"strength of {name!r} must be a number >= 0, got {strength!r}"
        return None
    return check


def regularizers_param(allowed: tuple[str, ...] | None = None, where: str = "") -> Param:
    """The ``regularizers`` key, checked: strengths >= 0 and (if given) names among ``allowed``."""
    help_text = "mapping regularizer name -> strength, e.g. {l2: 0.1}"
    if where:
        help_text += f"; {where}"
    return Param(dict, None, help_text, check=_check_regularizers(allowed))


def _rate(value):
    return None if 0.0 <= value < 1.0 else f"dropout rate must be in [0, 1), got {value}"


DROPOUT_PARAMS = {
    "dropout": Param(float, 0.0, "fraction of outputs dropped while training (1 - NDN3's keep_prob)",
                     check=_rate),
    "dropout_mask": Param(str, "batch", "'batch': one mask per unit/filter for the whole minibatch "
                          "(NDN3); 'row': one per example", choices=("batch", "row")),
}
