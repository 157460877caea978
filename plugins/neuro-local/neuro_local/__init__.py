"""neuro plugin: the local execution backend (worker processes on this machine)."""

from msc_neuro_cli.api import hookimpl

from .backend import LocalBackend


@hookimpl
def register_backends(registry):
    registry.add("local", LocalBackend)
