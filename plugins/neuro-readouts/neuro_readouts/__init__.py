"""neuro plugin: readout components (separable, factorised, Gaussian)."""

from msc_neuro_cli import hookimpl


@hookimpl
def register_components(registry):
    # by reference: TensorFlow is imported only when a model is built
    registry.layer("sep", "neuro_readouts.space_feature:Separable")
    registry.layer("factorised", "neuro_readouts.space_feature:Factorised")
    registry.layer("gaussian_readout", "neuro_readouts.gaussian:GaussianReadout")
