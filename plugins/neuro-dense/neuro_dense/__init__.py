"""Dense layers: NDN3's ``normal`` layer, y = f(x W + b)."""

from msc_neuro_cli import hookimpl

from .normal import Dense


@hookimpl
def register_components(registry):
    registry.layer("normal", Dense)
