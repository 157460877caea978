"""The plugin's hooks register what it documents, through the same registries users go through."""

from __future__ import annotations

import inspect

import neuro_datasets
from msc_neuro_cli.api import CommandRegistry, DatasetRegistry, DatasetSource


def test_register_datasets():
    registry = DatasetRegistry()
    neuro_datasets.register_datasets(registry)
    assert registry.names() == ["antolik2016", "generated", "hdf5", "static", "synthetic"]
    for entry in registry.entries():
        assert issubclass(entry.obj, DatasetSource) and entry.obj.description
        for name, param in entry.obj.PARAMS.items():
            assert param.help, f"{entry.name}.{name} has no help"


def test_register_commands_with_examples():
    registry = CommandRegistry()
    neuro_datasets.register_commands(registry)
    assert registry.names() == ["data fetch", "data info", "data pack", "data synth"]
    for entry in registry.entries():
        assert entry.obj.path[0] == "data" and "Example:" in entry.obj.help
        assert inspect.signature(entry.obj.func).parameters  # typed Typer parameters


def test_antolik_params_defaults():
    from neuro_datasets import AntolikDataset, SyntheticDataset

    assert AntolikDataset.PARAMS["path"].default == "Data" and AntolikDataset.PARAMS["regions"].default == [1]
    assert SyntheticDataset.PARAMS["path"].default == "data/synthetic"
    assert SyntheticDataset.PARAMS["region"].default == 1
