"""Dataset sources of the Antolik layout: ``antolik2016`` (regions 1-3) and ``synthetic``.

``load()`` returns the data without preprocessing (several regions merged with block masks).
``load_regions()`` returns one Dataset per region, so the core can preprocess each region on its
own (the thesis pipeline normalised per region) and then call :func:`neuro_datasets.merge_regions`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from msc_neuro_cli.api import Capabilities, Dataset, DatasetSource
from msc_neuro_cli.api import Param

from .layout import read_region, region_dir
from .merge import merge_regions


def _check_regions(value: Any) -> str | None:
    if not value:
        return "give at least one region"
    if any(not isinstance(r, int) or isinstance(r, bool) or r < 1 for r in value):
        return f"regions are positive integers, got {value!r}"
    if len(set(value)) != len(value):
        return f"a region is listed twice in {value!r}"
    return None


class AntolikDataset(DatasetSource):
    """Antolik et al. 2016 (S1 dataset): ``<path>/Data/region{r}/*.npy`` or ``<path>/region{r}/``."""

    description = "Antolik et al. 2016 mouse V1 responses to natural images (regions 1-3)"
    CAPABILITIES = Capabilities(regions=True)  # load_regions + merge: each region preprocessed alone
    PARAMS = {
        "path": Param(str, "Data", "folder holding Data/region{r}/ or region{r}/ "
                      "(`neuro data fetch antolik2016` downloads it)"),
        "regions": Param(list, [1], "regions to load; several are merged with block masks",
                         check=_check_regions),
    }

    def region_numbers(self) -> list[int]:
        return list(self.params.get("regions", [1]))

    def root(self) -> Path:
        return self.resolve(self.params.get("path", "Data"))

    def check(self) -> None:
        for region in self.region_numbers():
            region_dir(self.root(), region)

    def load_regions(self) -> list[Dataset]:
        """One un-preprocessed Dataset per region, in the order the manifest lists them."""
        root = self.root()
        return [read_region(region_dir(root, r), f"region{r}") for r in self.region_numbers()]

    def merge(self, parts: list[Dataset]) -> Dataset:
        """Merge per-region datasets (after per-region preprocessing) with block masks."""
        return merge_regions(parts)

    def load(self) -> Dataset:
        return merge_regions(self.load_regions())


class SyntheticDataset(AntolikDataset):
    """The embedded synthetic V1 population (``neuro data synth`` regenerates it)."""

    description = "deterministic synthetic V1 population in the Antolik layout (data/synthetic)"
    PARAMS = {
        "path": Param(str, "data/synthetic", "folder written by `neuro data synth`"),
        "region": Param(int, 1, "region folder to read", minimum=1),
    }

    def region_numbers(self) -> list[int]:
        return [int(self.params.get("region", 1))]

    def root(self) -> Path:
        return self.resolve(self.params.get("path", "data/synthetic"))
