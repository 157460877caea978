"""Front-end components: the difference-of-Gaussians "LGN" layer of the HSM."""

from msc_neuro_cli import hookimpl

from .dog import DifferenceOfGaussians


@hookimpl
def register_components(registry):
    registry.layer("diff_of_gaussians", DifferenceOfGaussians)
