"""Activations, losses, regularisers and initialisers of the thesis pipeline's NDN3 models.

Also shared by the other component plugins: ``dropout`` (NDN3 dropout for replicated layers),
``layer_ops`` (replicated convolution, parameter checks) and ``testing`` (a contract kit for
component tests). See docs/components.md.
"""

from msc_neuro_cli.api import hookimpl

# Registered by reference so that loading the plugin does not import TensorFlow; a test checks
# these names against the modules' mappings.
ACTIVATIONS = ("lin", "relu", "softplus", "exp", "sigmoid", "elu", "elu1")
LOSSES = ("poisson", "poisson_summed", "gaussian")
REGULARIZERS = ("l1", "l2", "d2x", "max", "max_filt", "max_space", "norm2", "norm2_filt",
                "norm2_space", "group_sparsity", "laplace_l2norm", "laplace_l2norm_valid")
INITIALIZERS = ("normal", "trunc_normal", "zeros")


@hookimpl
def register_components(registry):
    for name in ACTIVATIONS:
        registry.activation(name, f"neuro_basics.activations:ACTIVATIONS[{name}]")
    for name in LOSSES:
        registry.loss(name, f"neuro_basics.losses:LOSSES[{name}]")
    for name in REGULARIZERS:
        registry.regularizer(name, f"neuro_basics.regularizers:REGULARIZERS[{name}]")
    for name in INITIALIZERS:
        registry.initializer(name, f"neuro_basics.initializers:INITIALIZERS[{name}]")
