"""The report's figures (matplotlib, Agg backend): each function draws one PNG and returns its path.

They take plain numbers (see :mod:`neuro_reports.stats`), not runs, so a notebook can call them on
its own selections. Every figure is 100 dpi; sizes are chosen so labels stay readable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

DPI = 100
REF_STYLES = ("--", "-.", ":", (0, (5, 1, 1, 1)))


def _colors(n: int) -> list:
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(n)]


def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def _reference_lines(ax, refs: Sequence[tuple[str, float]], horizontal: bool = True) -> None:
    for (label, value), style in zip(refs, REF_STYLES * 4):
        if horizontal:
            ax.axhline(value, color="0.35", linestyle=style, linewidth=1.1, label=f"{label} ({value:.3f})")
        else:
            ax.axvline(value, color="0.35", linestyle=style, linewidth=1.1, label=f"{label} ({value:.3f})")


def training_curves(quantiles: pd.DataFrame, labels: dict[str, str], refs: Sequence[tuple[str, float]],
                    qset: Sequence[float], path: Path, title: str = "") -> Path:
    """Middle quantile of validation correlation per run over epochs, shaded between top/bottom."""
    top, bottom, mid, _ = qset
    fig, ax = plt.subplots(figsize=(9, 5.5))
    run_ids = list(labels)
    for run_id, color in zip(run_ids, _colors(len(run_ids))):
        q = quantiles[quantiles.run_id == run_id].sort_values("epoch")
        if q.empty:
            continue
        n = int(q["n"].max())
        ax.plot(q.epoch, q["mid"], color=color, linewidth=1.8, marker="o" if len(q) < 15 else None,
                markersize=3, label=f"{labels[run_id]} (n={n})")
        ax.fill_between(q.epoch, q["bottom"], q["top"], color=color, alpha=0.18, linewidth=0)
    _reference_lines(ax, refs)
    ax.set_xlabel("training epoch")
    ax.set_ylabel("mean validation set correlation")
    ax.set_title(title or f"validation correlation: {mid:g}th percentile, band {bottom:g}th-{top:g}th "
                          "over repetitions")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    return _save(fig, path)


def _box_strip(ax, groups: Sequence[tuple[str, np.ndarray]], colors=None) -> None:
    data = [np.asarray(v, np.float64) for _, v in groups]
    positions = np.arange(1, len(groups) + 1)
    nonempty = [i for i, d in enumerate(data) if d.size]
    if nonempty:
        ax.boxplot([data[i] for i in nonempty], positions=positions[nonempty], widths=0.55,
                   showfliers=False, medianprops={"color": "black", "linewidth": 1.6})
    rng = np.random.default_rng(0)  # deterministic jitter: the same report twice is the same PNG
    colors = colors or _colors(len(groups))
    for pos, d, color in zip(positions, data, colors):
        ax.scatter(pos + rng.uniform(-0.16, 0.16, d.size), d, s=16, color=color, alpha=0.8,
                   edgecolor="black", linewidth=0.3, zorder=3)
    ax.set_xticks(positions)
    labels = [label for label, _ in groups]
    # tilt labels that would run into each other (about 7 px per character at size 8)
    width_px = ax.get_position().width * ax.figure.get_figwidth() * DPI
    longest = max(len(line) for label in labels for line in label.split("\n"))
    tilt = longest * 5.5 > width_px / max(len(labels), 1)
    ax.set_xticklabels(labels, rotation=30 if tilt else 0, ha="right" if tilt else "center", fontsize=8)
    ax.set_xlim(0.4, len(groups) + 0.6)
    ax.grid(axis="y", alpha=0.3)


def final_distribution(groups: Sequence[tuple[str, np.ndarray]], refs: Sequence[tuple[str, float]],
                       path: Path, title: str = "final validation correlation per run") -> Path:
    """Box (median, quartiles, whiskers to 1.5 IQR) + every repetition as a point, per run."""
    fig, ax = plt.subplots(figsize=(max(6.0, 0.75 * len(groups) + 3), 5))
    _box_strip(ax, groups)
    _reference_lines(ax, refs)
    ax.set_ylabel("final validation correlation")
    ax.set_title(title)
    if refs:
        ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    return _save(fig, path)


def hyperparameter_effects(panels: Sequence[tuple[str, Sequence[tuple[str, np.ndarray]]]],
                           path: Path, title: str = "") -> Path:
    """One panel per grid axis: repetitions at each value, every other axis pooled."""
    cols = min(3, len(panels))
    rows = int(np.ceil(len(panels) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.9 * rows), sharey=True, squeeze=False)
    for ax, (axis, groups) in zip(axes.flat, panels):
        _box_strip(ax, groups, colors=["tab:blue"] * len(groups))
        medians = [np.median(v) if len(v) else np.nan for _, v in groups]
        ax.plot(np.arange(1, len(groups) + 1), medians, color="tab:red", linewidth=1, alpha=0.7)
        ax.set_xlabel(axis)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("final validation correlation")
    fig.suptitle(title or "effect of each hyperparameter (others pooled)")
    fig.tight_layout()
    return _save(fig, path)


def ceiling_scatter(series: Sequence[dict], ceiling_name: str, path: Path, title: str = "") -> Path:
    """Per-neuron model correlation against its noise ceiling, with the fraction-of-ceiling slope.

    ``series``: dicts with label, ceiling (N,), corr (N,), slope, and optional region (N,) names
    (drawn with different markers).
    """
    fig, ax = plt.subplots(figsize=(6.8, 6))
    markers = ["o", "s", "^", "D", "v"]
    finite = [np.concatenate([s["ceiling"][np.isfinite(s["ceiling"])], s["corr"][np.isfinite(s["corr"])]])
              for s in series]
    values = np.concatenate(finite) if finite else np.array([0.0, 1.0])
    lo = min(0.0, float(values.min(initial=0.0)) - 0.05)
    hi = max(1.0, float(values.max(initial=1.0)) + 0.02)
    ax.plot([lo, hi], [lo, hi], color="0.6", linewidth=1, label="model = ceiling")
    for s, color in zip(series, _colors(len(series))):
        regions = s.get("region")
        names = list(dict.fromkeys(regions)) if regions is not None else [None]
        for name, marker in zip(names, markers * 4):
            pick = np.ones(len(s["corr"]), bool) if name is None else np.asarray(regions) == name
            extra = f" {name}" if name is not None and len(names) > 1 else ""
            ax.scatter(s["ceiling"][pick], s["corr"][pick], s=22, marker=marker, color=color, alpha=0.75,
                       edgecolor="black", linewidth=0.3, label=f"{s['label']}{extra}")
        if np.isfinite(s["slope"]):
            ax.plot([0, hi], [0, s["slope"] * hi], color=color, linewidth=1.6,
                    label=f"{s['label']}: slope {s['slope']:.2f} (fraction of ceiling)")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.set_xlabel(f"noise ceiling per neuron ({ceiling_name})")
    ax.set_ylabel("model validation correlation per neuron (median over reps)")
    ax.set_title(title or "per-neuron correlation against the noise ceiling")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    return _save(fig, path)


def filter_grid(images: np.ndarray, path: Path, title: str, cols: int = 8) -> Path:
    """Filters (K, y, x) as a grid of images, each with its own symmetric colour scale (red > 0)."""
    k = len(images)
    rows = int(np.ceil(k / cols))
    cols = int(np.ceil(k / rows))  # balanced rows: 9 filters as 5 + 4, not 8 + 1
    size = 1.6 if max(images.shape[1:]) > 5 else 1.2
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols + 0.4, size * rows + 0.7), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= k:
            ax.set_visible(False)
            continue
        scale = float(np.abs(images[i]).max()) or 1.0
        ax.imshow(images[i], cmap="RdBu_r", vmin=-scale, vmax=scale, interpolation="nearest")
        ax.set_title(f"{i}", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def region_results(groups: Sequence[tuple[str, dict[str, np.ndarray]]], anchors: dict[str, dict[str, float]],
                   path: Path, title: str = "") -> Path:
    """Per run: each region's mean correlation over repetitions (box + points), and the
    neuron-weighted mean ("weighted"); published per-region values drawn as markers."""
    regions = list(dict.fromkeys(r for _, per in groups for r in per))
    fig, axes = plt.subplots(1, len(regions), figsize=(max(3.2 * len(regions), 6), 4.6), sharey=True,
                             squeeze=False)
    for ax, region in zip(axes[0], regions):
        _box_strip(ax, [(label, per.get(region, np.array([]))) for label, per in groups])
        for (label, values), style in zip(anchors.items(), REF_STYLES * 4):
            if region in values:  # one legend entry per publication; the value is written on the line
                ax.axhline(values[region], color="0.35", linestyle=style, linewidth=1, label=label)
                ax.annotate(f"{values[region]:.3f}", (1.0, values[region]), xycoords=("axes fraction", "data"),
                            xytext=(-2, 2), textcoords="offset points", ha="right", va="bottom", fontsize=7,
                            color="0.3")
        ax.set_title(region if region != "weighted" else "neuron-weighted mean")
    axes[0, 0].set_ylabel("validation correlation\n(mean over the region's neurons)")
    handles, labels = [], []
    for ax in axes[0]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.suptitle(title or "results per region")
    fig.tight_layout()
    if handles:
        fig.legend(handles, labels, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    return _save(fig, path)
