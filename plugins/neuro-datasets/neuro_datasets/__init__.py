"""neuro plugin: dataset sources (Antolik 2016 layout, embedded synthetic population, Sinz-lab
static FileTree, HDF5 container) and the ``neuro data`` commands (synth, fetch, pack, info)."""

from msc_neuro_cli.api import hookimpl

from .antolik import AntolikDataset, SyntheticDataset
from .generated import GeneratedDataset
from .hdf5 import Hdf5Dataset
from .merge import merge_regions, region_raw
from .static import StaticDataset

__all__ = ["AntolikDataset", "SyntheticDataset", "StaticDataset", "Hdf5Dataset", "merge_regions", "region_raw"]

DATASETS = {"antolik2016": AntolikDataset, "synthetic": SyntheticDataset, "static": StaticDataset,
            "hdf5": Hdf5Dataset, "generated": GeneratedDataset}


@hookimpl
def register_datasets(registry):
    for name, cls in DATASETS.items():
        registry.add(name, cls)


@hookimpl
def register_commands(registry):
    import inspect

    from .commands import COMMANDS

    for name, func in COMMANDS.items():
        registry.add(name, func, help=inspect.getdoc(func))
