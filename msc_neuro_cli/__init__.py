"""neuro: fit, track and compare deep-network models of V1 population responses."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("msc-neuro-cli")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

PLUGIN_ENTRY_POINT_GROUP = "neuro.plugins"

# plugins import everything from msc_neuro_cli.api; this name stays for plugins written before it
from msc_neuro_cli.plugin_system.hookspecs import hookimpl  # noqa: E402

__all__ = ["hookimpl", "__version__", "PLUGIN_ENTRY_POINT_GROUP"]
