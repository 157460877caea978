"""Parameter declarations of this plugin's components, importable without TensorFlow: the
manifest is validated, and sweeps planned, from these alone (the layer classes use them as
their ``PARAMS``)."""

from __future__ import annotations

import dataclasses

from msc_neuro_cli.api import Param
from neuro_basics.params import regularizers_param
from neuro_frontends.params import CONV_PARAMS

HIDDEN_TYPES = ("separable", "depthwise", "full")


def _odd(value):
    return None if value % 2 == 1 else f"hidden layers keep the map's size only with an odd width, got {value}"


def _stack(value):
    if isinstance(value, int):
        return None
    if isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return None
    return f"stack is an integer (-1: the last layer, -2: the last two) or a list of layer indices, got {value!r}"


CONV_BN_PARAMS = {
    **{k: v for k, v in CONV_PARAMS.items() if k != "bias_init"},
    "momentum": Param(float, 0.99, "moving-average momentum of the statistics", minimum=0.0, maximum=1.0),
    "epsilon": Param(float, 1e-3, "added to the variance", minimum=0.0),
}


STACKED_CORE_PARAMS = {
    "channels": Param(int, 64, "channels C of every layer", minimum=1),
    "layers": Param(int, 4, "number of layers L", minimum=1),
    "input_width": Param(int, 9, "width k of the first layer's k x k filters", minimum=1),
    "input_padding": Param(str, "valid", "padding of the first layer", choices=("valid", "same")),
    "hidden_width": Param(int, 7, "width k' of the hidden layers' spatial filters (odd)", minimum=1, check=_odd),
    "hidden": Param(str, "separable", "hidden layer type", choices=HIDDEN_TYPES),
    "nonlinearity": Param(str, "elu", "activation after every layer's batch norm"),
    "final_nonlinearity": Param(bool, True, "apply the nonlinearity after the last layer too"),
    "momentum": Param(float, 0.1, "moving-average momentum, Keras' convention (PyTorch's 0.9)",
                      minimum=0.0, maximum=1.0),
    "epsilon": Param(float, 1e-5, "added to the variance", minimum=0.0),
    "stack": Param((int, list), -1, "layers whose outputs the core returns (channel concatenation)",
                   check=_stack),
    "regularizers": dataclasses.replace(
        regularizers_param(where="act on the first layer's filters (k, k, C_in, C)"),
        default={"laplace_l2norm": 0.0294}),
}
