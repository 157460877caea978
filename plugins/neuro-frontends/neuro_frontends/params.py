"""Parameter declarations of this plugin's components, importable without TensorFlow: the
manifest is validated, and sweeps planned, from these alone (the layer classes use them as
their ``PARAMS``)."""

from __future__ import annotations

from msc_neuro_cli.api import Param
from neuro_basics.params import DROPOUT_PARAMS, regularizers_param


def _bounds(value):
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value)):
        return "expected a list [low, high] of two numbers"
    return None


def _bounds_or_default(value):
    return None if value is None else _bounds(value)


CONV_GEOMETRY = {
    "filters": Param(int, help="number of filters K", minimum=1),
    "width": Param(int, help="filter width c (filters are c x c)", minimum=1),
    "stride": Param(int, 1, "stride s in both directions (NDN3 shift_spacing)", minimum=1),
    "padding": Param(str, "same", "'same' (NDN3) or 'valid'", choices=("same", "valid")),
}


DOG_PARAMS = {
    "units": Param((int, str), help="number of DoG units K"),
    "init": Param(str, "random", "weights: 'random' (uniform within bounds) or 'zeros'",
                  choices=("random", "zeros")),
    "bias_init": Param(str, "zeros", "bias initialiser (an initializer plugin name)"),
    "impl_sigma": Param(bool, True, "second Gaussian's variance is s1 + s2"),
    "impl_concentric": Param(bool, True, "second Gaussian shares the first one's centre"),
    "sigma_bounds": Param(list, [1, 25], "[low, high] of the variance-like sigma", check=_bounds),
    "alpha_max": Param((int, float), 10.0, "upper bound of alpha for random initialisation"),
}


CONV_DOG_PARAMS = {
    "filters": Param(int, help="number of DoG filters K", minimum=1),
    "width": Param(int, help="filter grid width c (c x c)", minimum=1),
    "stride": Param(int, 1, "stride s (NDN3 shift_spacing)", minimum=1),
    "init": Param(str, "random", "weights: 'random' (uniform within bounds) or 'zeros'",
                  choices=("random", "zeros")),
    "bias_init": Param(str, "zeros", "bias initialiser (an initializer plugin name)"),
    "impl_sigma": Param(bool, True, "second Gaussian's variance is s1 + s2"),
    "impl_concentric": Param(bool, True, "second Gaussian shares the first one's centre"),
    "sigma_bounds": Param(list, None, "[low, high] of the variance-like sigma (default [1, int(0.82 c)])",
                          check=_bounds_or_default),
    "alpha_max": Param((int, float), 10.0, "upper bound of alpha for random initialisation"),
    "regularizers": regularizers_param((), "none: the DoG parameters are not regularised (NDN3)"),
}


CONV_PARAMS = {
    **CONV_GEOMETRY,
    "init": Param(str, "normal", "weight initialiser (normal, trunc_normal, zeros)"),
    "bias_init": Param(str, "zeros", "bias initialiser (zeros, trunc_normal, normal)"),
    "regularizers": regularizers_param(where="all apply to the kernel (c, c, channels, filters)"),
    **DROPOUT_PARAMS,
}


LIN_SCALE_PARAMS = {"regularizers": regularizers_param((), "none: the scale and offset are not regularised")}
