"""Load the dataset of a frozen run spec: the source named there, preprocessed and validated.

The worker, the generated-dataset source and reports all load data through :func:`load_dataset`,
so they see exactly the arrays a run trained on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from msc_neuro_cli.datasets.contract import Dataset, DatasetSource, preprocess, validate
from msc_neuro_cli.errors import DatasetError


def load_dataset(dataset_spec: dict[str, Any]) -> Dataset:
    """``dataset_spec`` is a run spec's ``dataset`` part: {name, params, preprocess, base_dir}."""
    from msc_neuro_cli.plugin_system.manager import registries

    name = dataset_spec["name"]
    source = registries().datasets.get(name)(dataset_spec["params"], Path(dataset_spec["base_dir"]))
    source.check()
    data = load_source(source, dataset_spec["preprocess"])
    where = f"dataset {name!r}"
    validate(data, where)
    check_capabilities(source, data, where)
    return data


def load_source(source: DatasetSource, options: dict[str, Any]) -> Dataset:
    """A source's data, preprocessed per region when it offers regions, else as a whole."""
    if source.CAPABILITIES.regions:
        return source.merge([preprocess(part, options) for part in source.load_regions()])
    return preprocess(source.load(), options)


def check_capabilities(source: DatasetSource, data: Dataset, where: str) -> None:
    """A source that declares tiers or behaviour must deliver them (one-line errors)."""
    offers = source.CAPABILITIES
    if offers.tiers and not data.has_test_tier:
        raise DatasetError(f"{where}: the source declares tiers but loaded no test tier (test_x is None)")
    if offers.behavior and data.train_behavior is None and data.train_pupil is None:
        raise DatasetError(f"{where}: the source declares behaviour but loaded no train_behavior or train_pupil")
