"""Front-end components: the difference-of-Gaussians "LGN" layers, convolution, input scaling."""

from msc_neuro_cli.api import hookimpl


@hookimpl
def register_components(registry):
    # by reference, parameters apart: TensorFlow is imported only when a model is built
    registry.layer("diff_of_gaussians", "neuro_frontends.dog:DifferenceOfGaussians",
                   params="neuro_frontends.params:DOG_PARAMS", regularized=())  # NDN3: never regularised
    registry.layer("conv_diff_of_gaussians", "neuro_frontends.conv_dog:ConvDifferenceOfGaussians",
                   params="neuro_frontends.params:CONV_DOG_PARAMS", regularized=())
    registry.layer("conv", "neuro_frontends.conv:Conv", params="neuro_frontends.params:CONV_PARAMS")
    registry.layer("lin_scale", "neuro_frontends.lin_scale:LinScale",
                   params="neuro_frontends.params:LIN_SCALE_PARAMS", regularized=())
