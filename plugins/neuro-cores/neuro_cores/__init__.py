"""neuro plugin: convolutional cores: convolution + batch normalisation (Klindt et al. 2017) and the
field's stacked core (Lurz et al. 2021)."""

from msc_neuro_cli.api import hookimpl


@hookimpl
def register_components(registry):
    # by reference, parameters apart: TensorFlow is imported only when a model is built
    registry.layer("conv_bn", "neuro_cores.conv_bn:ConvBatchNorm", params="neuro_cores.params:CONV_BN_PARAMS")
    registry.layer("stacked_core", "neuro_cores.stacked:StackedCore", params="neuro_cores.params:STACKED_CORE_PARAMS")
