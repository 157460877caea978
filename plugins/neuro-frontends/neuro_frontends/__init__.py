"""Front-end components: the difference-of-Gaussians "LGN" layers, convolution, input scaling."""

from msc_neuro_cli.api import hookimpl


@hookimpl
def register_components(registry):
    # by reference: TensorFlow is imported only when a model is built
    registry.layer("diff_of_gaussians", "neuro_frontends.dog:DifferenceOfGaussians")
    registry.layer("conv_diff_of_gaussians", "neuro_frontends.conv_dog:ConvDifferenceOfGaussians")
    registry.layer("conv", "neuro_frontends.conv:Conv")
    registry.layer("lin_scale", "neuro_frontends.lin_scale:LinScale")
