"""Dense layers: NDN3's ``normal`` layer, y = f(x W + b)."""

from msc_neuro_cli.api import hookimpl


@hookimpl
def register_components(registry):
    # by reference, parameters apart: TensorFlow is imported only when a model is built
    registry.layer("normal", "neuro_dense.normal:Dense", params="neuro_dense.params:DENSE_PARAMS")
