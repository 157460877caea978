"""Reference validation correlations on the Antolík et al. 2016 data (shared/reference/anchors.md).

Mean over neurons of the Pearson correlation between prediction and trial-averaged validation
response, per region; "weighted" is the neuron-weighted mean over regions 1-3 (103/55/102). They
only mean something for models of that dataset, so reports draw them for ``antolik2016`` runs.
"""

from __future__ import annotations

# label -> {region: value}; the thesis pipeline's notebook drew these as flat lines ("static_data")
ANCHORS: dict[str, dict[str, float]] = {
    "HSM Antolík 2016, median of 100 seeds": {"region1": 0.479, "region2": 0.412, "region3": 0.437,
                                               "weighted": 0.448},
    "Klindt 2017, best CNN": {"region1": 0.55, "region2": 0.45, "region3": 0.49, "weighted": 0.50},
    "rLN Antolík 2016": {"region1": 0.31, "region2": 0.24, "region3": 0.30},
}

# the 90th/10th percentiles of the HSM over 100 seeds (the notebook's static_data)
HSM_BAND = {"region1": (0.5012, 0.4428), "region2": (0.4349, 0.3824), "region3": (0.4488, 0.4186)}

ANTOLIK_DATASETS = ("antolik2016",)


def reference_lines(dataset: str | None, regions: list[str]) -> list[tuple[str, float]]:
    """(label, value) lines for a model of ``regions`` of ``dataset`` (none for other datasets).

    One region: that region's values; several: the neuron-weighted values where known (the
    published numbers are for regions 1-3 together, so they are only indicative for a subset).
    """
    if dataset not in ANTOLIK_DATASETS or not regions:
        return []
    key = regions[0] if len(regions) == 1 else "weighted"
    return [(label, values[key]) for label, values in ANCHORS.items() if key in values]


def region_anchors(dataset: str | None) -> dict[str, dict[str, float]]:
    """Label -> region -> value for per-region plots ({} for datasets other than Antolík's)."""
    return ANCHORS if dataset in ANTOLIK_DATASETS else {}
