"""Merging regions into one dataset as the thesis pipeline did (``utils/data.merge_data_and_get_mask``).

Images of all regions are concatenated (region 1's rows first). Outputs are block-diagonal: each
region's neurons have their own columns, zero on other regions' images, and the masks are 1 exactly
on those blocks, so a shared model is only scored on the responses that were recorded.

Regions may have different neuron and repeat counts. ``raw_validation`` of the merged dataset is
``(max repeats, all validation images, all neurons)`` padded with NaN outside each region's block
and beyond its own repeat count; :func:`region_raw` gives each region's block back without NaN.
"""

from __future__ import annotations

import numpy as np

from msc_neuro_cli.api import Dataset, DatasetError


def _block(parts: list[np.ndarray], widths: list[int], fill: float = 0.0) -> np.ndarray:
    """Stack row blocks so part k occupies columns of region k only."""
    total = sum(widths)
    rows = sum(len(p) for p in parts)
    out = np.full((rows, total), fill, dtype=np.result_type(*parts))
    r = c = 0
    for part, width in zip(parts, widths):
        out[r:r + len(part), c:c + width] = part
        r, c = r + len(part), c + width
    return out


def _ranges(lengths: list[int]) -> list[list[int]]:
    edges = np.cumsum([0] + lengths)
    return [[int(a), int(b)] for a, b in zip(edges[:-1], edges[1:])]


def merge_regions(parts: list[Dataset]) -> Dataset:
    """One dataset from several single-region datasets (already preprocessed if wanted)."""
    if not parts:
        raise DatasetError("merge_regions: no regions given")
    if len(parts) == 1:
        return parts[0]
    dims = {tuple(p.input_dims) for p in parts}
    if len(dims) > 1:
        names = ", ".join(f"{p.regions[0][0] if p.regions else '?'} {p.input_dims}" for p in parts)
        raise DatasetError(f"cannot merge regions with different image sizes: {names}")
    regions = [r for i, p in enumerate(parts) for r in (p.regions or [(f"region{i + 1}", p.n_neurons)])]
    widths = [p.n_neurons for p in parts]
    train_y = _block([p.train_y for p in parts], widths)
    val_y = _block([p.val_y for p in parts], widths)
    ones = lambda p, y: np.ones_like(y) if p is None else p  # noqa: E731
    train_mask = _block([ones(p.train_mask, p.train_y) for p in parts], widths).astype(np.float32)
    val_mask = _block([ones(p.val_mask, p.val_y) for p in parts], widths).astype(np.float32)
    raw = None
    if all(p.raw_validation is not None for p in parts):
        repeats = max(p.raw_validation.shape[0] for p in parts)
        raw = np.full((repeats, len(val_y), sum(widths)), np.nan)
        r = c = 0
        for p, width in zip(parts, widths):
            block = p.raw_validation
            raw[:block.shape[0], r:r + block.shape[1], c:c + width] = block
            r, c = r + block.shape[1], c + width
    meta = {
        "merged_from": [p.meta for p in parts],
        "train_rows": _ranges([len(p.train_y) for p in parts]),
        "val_rows": _ranges([len(p.val_y) for p in parts]),
        "columns": _ranges(widths),
        "repeats": [None if p.raw_validation is None else int(p.raw_validation.shape[0]) for p in parts],
    }
    return Dataset(np.concatenate([p.train_x for p in parts]), train_y,
                   np.concatenate([p.val_x for p in parts]), val_y, parts[0].input_dims, raw,
                   train_mask, val_mask, regions, meta)


def region_raw(data: Dataset) -> list[tuple[str, np.ndarray]]:
    """Each region's raw validation repeats (repeats, images, neurons) without NaN padding."""
    if data.raw_validation is None:
        return []
    if "columns" not in data.meta:
        return [(data.regions[0][0] if data.regions else "region1", data.raw_validation)]
    out = []
    for (name, _), (r0, r1), (c0, c1), repeats in zip(data.regions, data.meta["val_rows"],
                                                       data.meta["columns"], data.meta["repeats"]):
        if repeats:
            out.append((name, data.raw_validation[:repeats, r0:r1, c0:c1]))
    return out
