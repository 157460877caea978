"""Activations, losses, regularisers and initialisers of the seed's NDN3 models.

Also shared by the other component plugins: ``dropout`` (NDN3 dropout for replicated layers),
``layer_ops`` (replicated convolution, parameter checks) and ``testing`` (a contract kit for
component tests). See docs/components.md.
"""

from msc_neuro_cli import hookimpl

# Registered by reference so that loading the plugin does not import TensorFlow; a test checks
# these names against the modules' mappings.
ACTIVATIONS = ("lin", "relu", "softplus", "exp", "sigmoid")
LOSSES = ("poisson", "gaussian")
REGULARIZERS = ("l1", "l2", "d2x", "max", "max_filt", "max_space", "norm2", "norm2_filt",
                "norm2_space", "group_sparsity")
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
