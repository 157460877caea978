"""Parameter declarations of this plugin's components, importable without TensorFlow: the
manifest is validated, and sweeps planned, from these alone (the layer classes use them as
their ``PARAMS``)."""

from __future__ import annotations

from msc_neuro_cli.api import Param
from neuro_basics.params import DROPOUT_PARAMS, regularizers_param


DENSE_PARAMS = {
    "units": Param((int, str), help="output units: an integer, 'N' (neurons) or '0.2N'"),
    "init": Param(str, "normal", "weight initialiser (normal, trunc_normal, zeros)"),
    "bias_init": Param(str, "zeros", "bias initialiser (zeros, trunc_normal, normal)"),
    "regularizers": regularizers_param(where="all apply to W, laid out (y, x, channels, units) of the input"),
    **DROPOUT_PARAMS,
}
