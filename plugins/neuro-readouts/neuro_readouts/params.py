"""Parameter declarations of this plugin's components, importable without TensorFlow: the
manifest is validated, and sweeps planned, from these alone (the layer classes use them as
their ``PARAMS``)."""

from __future__ import annotations

import dataclasses

from msc_neuro_cli.api import Param
from neuro_basics.params import DROPOUT_PARAMS, regularizers_param

SPACE_REGS = ("d2x", "max_space", "norm2_space")
FEATURE_REGS = ("max_filt", "norm2_filt")
BOTH_REGS = ("l1", "l2", "norm2")
SEP_REGS = BOTH_REGS + SPACE_REGS + FEATURE_REGS
FEATURE_ONLY_REGS = ("l1", "l2", "norm2", "max_filt", "norm2_filt")
MEAN_RESPONSE = "mean_response"


READOUT_PARAMS = {
    "units": Param((int, str), help="output units: an integer, 'N' (neurons) or '0.2N'"),
    "bias_init": Param(str, "zeros", "bias initialiser (zeros, trunc_normal, normal)"),
    **DROPOUT_PARAMS,
}


SEPARABLE_PARAMS = {
    **READOUT_PARAMS,
    "init": Param(str, "normal", "initialiser of k_t and k_s (normal, trunc_normal, zeros)"),
    "regularizers": regularizers_param(SEP_REGS, "d2x/max_space/norm2_space: k_s; max_filt/norm2_filt: "
                                                 "k_t; l1/l2/norm2: both"),
}


FACTORISED_PARAMS = {
    **READOUT_PARAMS,
    "init": Param(str, "trunc_normal", "initialiser of the mask and features (before |.|)"),
    "mask_init_scale": Param(str, "none", "'positions': the mask's initial values divided by the map's "
                                          "positions, so the untrained readout averages the map instead "
                                          "of summing it", choices=("none", "positions")),
    "regularizers": regularizers_param(SEP_REGS, "d2x/max_space/norm2_space: |mask|; "
                                                 "max_filt/norm2_filt: |features|; l1/l2/norm2: both"),
}


GAUSSIAN_READOUT_PARAMS = {
    **READOUT_PARAMS,
    "init": Param(str, "normal", "initialiser of the feature weights"),
    "init_width": Param(float, 0.2, "initial sigma as a fraction of the larger map side", minimum=0.0),
    "init_position_range": Param(float, 0.5, "initial positions: uniform in this central fraction of the map",
                                 minimum=0.0, maximum=1.0),
    "min_width": Param(float, 0.5, "smallest sigma in pixels", minimum=1e-3),
    "regularizers": regularizers_param(FEATURE_ONLY_REGS, "all act on the feature weights"),
}


POINT_GAUSSIAN_PARAMS = {
    "units": Param((int, str), help="output units: an integer, 'N' (neurons) or '0.2N'"),
    "spread": Param(str, "full", "'full': 2x2 lower-triangular factor starting at init_sigma I; 'matrix': "
                                 "an unconstrained 2x2 matrix, entries starting uniform in +-init_sigma (the "
                                 "reference's); 'isotropic': one sigma",
                    choices=("full", "matrix", "isotropic")),
    "init_mu_range": Param(float, 0.3, "initial positions uniform in +- this (normalised coordinates)",
                           minimum=0.0, maximum=1.0),
    "init_sigma": Param(float, 0.1, "initial spread (normalised coordinates)", minimum=0.0),
    "sample_per": Param(str, "row", "while training, one position sample per 'row' or per 'batch'",
                        choices=("row", "batch")),
    "bias_init": Param(str, MEAN_RESPONSE, "'mean_response' (the training mean of each neuron) or an "
                                           "initialiser (zeros, trunc_normal, normal)"),
    "shifter_layers": Param(int, 0, "layers of the pupil-centre shifter MLP (0: no shifter)", minimum=0),
    "shifter_hidden": Param(int, 5, "hidden units of the shifter MLP", minimum=1),
    "regularizers": dataclasses.replace(
        regularizers_param(("l1", "l2"), "act on the feature weights"), default={"l1": 3.5e-5}),
}


MODULATOR_PARAMS = {
    "behavior_variables": Param(int, 3, "behaviour values per trial (the dataset's behavior rows)", minimum=1),
    "hidden": Param(int, 10, "hidden units of the MLP", minimum=1),
    "layers": Param(int, 2, "linear layers of the MLP (1: no hidden layer)", minimum=1),
    "regularizers": regularizers_param(("l1", "l2"), "act on the MLP's last weight matrix"),
}
