"""Activations, losses, regularisers and initialisers of the seed's NDN3 models.

Also shared by the other component plugins: ``dropout`` (NDN3 dropout for replicated layers),
``layer_ops`` (replicated convolution, parameter checks) and ``testing`` (a contract kit for
component tests). See docs/components.md.
"""

from msc_neuro_cli import hookimpl

from . import activations, initializers, losses, regularizers


@hookimpl
def register_components(registry):
    for name, fn in activations.ACTIVATIONS.items():
        registry.activation(name, fn)
    for name, fn in losses.LOSSES.items():
        registry.loss(name, fn)
    for name, fn in regularizers.REGULARIZERS.items():
        registry.regularizer(name, fn)
    for name, fn in initializers.INITIALIZERS.items():
        registry.initializer(name, fn)
