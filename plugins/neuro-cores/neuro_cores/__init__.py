"""neuro plugin: convolutional cores (Klindt et al. 2017): convolution + batch normalisation."""

from msc_neuro_cli import hookimpl

from .conv_bn import ConvBatchNorm


@hookimpl
def register_components(registry):
    registry.layer("conv_bn", ConvBatchNorm)
