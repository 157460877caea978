"""neuro plugin: readout components (separable, factorised, Gaussian, point Gaussian) and the behaviour modulator."""

from msc_neuro_cli.api import hookimpl


@hookimpl
def register_components(registry):
    # by reference: TensorFlow is imported only when a model is built
    registry.layer("sep", "neuro_readouts.space_feature:Separable")
    registry.layer("factorised", "neuro_readouts.space_feature:Factorised")
    registry.layer("gaussian_readout", "neuro_readouts.gaussian:GaussianReadout")
    registry.layer("point_gaussian_readout", "neuro_readouts.point_gaussian:PointGaussianReadout")
    registry.layer("behavior_modulator", "neuro_readouts.modulator:BehaviorModulator")
