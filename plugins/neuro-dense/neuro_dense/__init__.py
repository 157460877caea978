"""Dense layers: NDN3's ``normal`` layer, y = f(x W + b)."""

from msc_neuro_cli import hookimpl


@hookimpl
def register_components(registry):
    # by reference: TensorFlow is imported only when a model is built
    registry.layer("normal", "neuro_dense.normal:Dense")
