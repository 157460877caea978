"""neuro plugin: readout components (separable, factorised, Gaussian, point Gaussian) and the behaviour modulator."""

from msc_neuro_cli.api import hookimpl


@hookimpl
def register_components(registry):
    # by reference, parameters apart: TensorFlow is imported only when a model is built
    params = "neuro_readouts.params:"
    registry.layer("sep", "neuro_readouts.space_feature:Separable", params=params + "SEPARABLE_PARAMS")
    registry.layer("factorised", "neuro_readouts.space_feature:Factorised", params=params + "FACTORISED_PARAMS")
    registry.layer("gaussian_readout", "neuro_readouts.gaussian:GaussianReadout",
                   params=params + "GAUSSIAN_READOUT_PARAMS")
    registry.layer("point_gaussian_readout", "neuro_readouts.point_gaussian:PointGaussianReadout",
                   params=params + "POINT_GAUSSIAN_PARAMS")
    registry.layer("behavior_modulator", "neuro_readouts.modulator:BehaviorModulator",
                   params=params + "MODULATOR_PARAMS")
