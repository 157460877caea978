"""neuro plugin: convolutional cores (Klindt et al. 2017): convolution + batch normalisation."""

from msc_neuro_cli import hookimpl


@hookimpl
def register_components(registry):
    # by reference: TensorFlow is imported only when a model is built
    registry.layer("conv_bn", "neuro_cores.conv_bn:ConvBatchNorm")
