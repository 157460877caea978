"""neuro plugin: readout components (separable, factorised, Gaussian)."""

from msc_neuro_cli import hookimpl

from .gaussian import GaussianReadout
from .space_feature import Factorised, Separable


@hookimpl
def register_components(registry):
    registry.layer("sep", Separable)
    registry.layer("factorised", Factorised)
    registry.layer("gaussian_readout", GaussianReadout)
