"""Front-end components: the difference-of-Gaussians "LGN" layers, convolution, input scaling."""

from msc_neuro_cli import hookimpl

from .conv import Conv
from .conv_dog import ConvDifferenceOfGaussians
from .dog import DifferenceOfGaussians
from .lin_scale import LinScale


@hookimpl
def register_components(registry):
    registry.layer("diff_of_gaussians", DifferenceOfGaussians)
    registry.layer("conv_diff_of_gaussians", ConvDifferenceOfGaussians)
    registry.layer("conv", Conv)
    registry.layer("lin_scale", LinScale)
