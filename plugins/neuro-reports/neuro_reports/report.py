"""``neuro report``: PNG figures of some experiments plus one self-contained ``index.html``.

Figures (each written as a PNG into the output folder and embedded in the page):

- ``curves.png``: validation correlation over epochs, one line per run (the middle quantile over
  repetitions) with the top/bottom quantiles shaded, and published reference values;
- ``final.png``: final validation correlation per run, box plot with every repetition as a point;
- ``hyperparameters_{exp}.png``: one panel per grid axis, the other axes pooled;
- ``ceiling_{exp}.png``: per-neuron correlation against the noise ceiling, with the slope;
- ``filters_{exp}_{layer}.png``: DoG / conv / first dense layer filters of the best repetition;
- ``regions_{exp}.png``: multi-region runs, each region's correlation and the neuron-weighted mean.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import yaml

from msc_neuro_cli.api import StoreError, versions

from . import anchors, figures, html, stats
from .api import curves_frame, runs_frame
from .filters import load_model, model_filters
from .loading import Run, aliases_from_manifest, filter_runs, load_runs, run_order, select
from .neurons import DEFAULT_CEILING, dataset_info
from .summary import mid_label, region_values, run_row

MAX_CURVES = 10   # lines in the training-curve figure unless --runs picks them
MAX_SCATTER = 4   # runs in a ceiling scatter


@dataclass
class Report:
    out: Path
    index: Path
    figures: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def build_report(store: Path, experiments: Iterable[str] | None, out: Path, manifest: Path | None = None,
                 only_runs: Iterable[str] | None = None, median_mode: bool = True,
                 ceiling: str = DEFAULT_CEILING, with_anchors: bool = True, with_filters: bool = True) -> Report:
    everything = load_runs(store)
    chosen = select(everything, experiments, aliases_from_manifest(manifest), where=str(store))
    chosen = sorted(filter_runs(chosen, only_runs), key=run_order)
    if not chosen:
        raise StoreError(f"no finished runs to report in {store}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = Report(out, out / "index.html")
    qset = stats.quantile_set(median_mode)
    experiments_ = list(dict.fromkeys(r.experiment for r in chosen))
    refs = _references(chosen) if with_anchors else []

    sections = [html.section("Summary", [_summary_table(chosen, qset, ceiling)], "summary")]
    parts = _overview_figures(report, chosen, qset, refs, explicit=bool(only_runs))
    if refs:
        parts.append(html.table([{"published model": label, "validation correlation": value} for label, value in refs],
                                caption="reference lines (shared/reference/anchors.md; Antolík et al. 2016 data)"))
    sections.append(html.section("All runs", parts, "overview"))
    for exp in experiments_:
        runs = [r for r in chosen if r.experiment == exp]
        parts = _experiment_figures(report, exp, runs, ceiling, with_filters)
        parts.append(_manifest_entry(runs))
        sections.append(html.section(f"Experiment {exp}", parts, f"exp-{exp}"))
    sections.append(html.section("Provenance", [_provenance(chosen)], "provenance"))
    intro = html.paragraph(f"{len(chosen)} runs of {', '.join(experiments_)} from {Path(store).resolve()}, "
                           f"quantiles {qset[0]:g}/{qset[1]:g}/{qset[2]:g} "
                           f"({'median_mode' if median_mode else 'the default of the thesis pipeline'}); "
                           f"written {time.strftime('%Y-%m-%d %H:%M:%S')}.")
    intro += "".join(html.paragraph(n, note=True) for n in report.notes)
    report.index.write_text(html.page(f"neuro report: {', '.join(experiments_)}", sections, intro),
                            encoding="utf-8")
    return report


def _references(runs: list[Run]) -> list[tuple[str, float]]:
    """Published values for the dataset and regions all these runs share (none if they differ)."""
    keys = set()
    for run in runs:
        info = dataset_info(run.spec, run.record)
        if info is not None:
            keys.add((info.name, tuple(r for r, _ in info.regions)))
    if len(keys) != 1:
        return []
    name, regions = keys.pop()
    return anchors.reference_lines(name, list(regions))


def _summary_table(runs: list[Run], qset, ceiling: str) -> str:
    rows = []
    for run in runs:
        row = run_row(run, qset, ceiling)
        row.update({k: json.dumps(v) if not isinstance(v, (int, float, str)) else v
                    for k, v in run.hyperparameters.items()})
        rows.append(row)
    return html.table(rows, caption=f"final validation correlation over repetitions; fraction of ceiling "
                                    f"= slope of per-neuron correlation against {ceiling}")


def _overview_figures(report: Report, runs: list[Run], qset, refs, explicit: bool) -> list[str]:
    top, bottom, mid, _ = qset
    curve_runs = runs
    if len(runs) > MAX_CURVES and not explicit:
        curve_runs = sorted(runs, key=lambda r: -np.median(r.finals()))[:MAX_CURVES]
        report.notes.append(f"the training-curve figure shows the {MAX_CURVES} best of {len(runs)} runs "
                            "(by median final correlation); pick others with --runs")
    quantiles = stats.curve_quantiles(curves_frame(curve_runs), qset)
    labels = {r.run_id: r.label for r in curve_runs}
    parts = []
    path = figures.training_curves(quantiles, labels, refs, qset, report.out / "curves.png")
    report.figures.append(path)
    parts.append(html.figure(path, f"Validation correlation during training: the {mid_label(qset)} over "
                                   f"repetitions per run, shaded from the {bottom:g}th to the {top:g}th "
                                   "percentile; grey lines are published values for this dataset."))
    groups = [(r.tick, r.finals()) for r in runs]
    path = figures.final_distribution(groups, refs, report.out / "final.png")
    report.figures.append(path)
    parts.append(html.figure(path, "Final validation correlation of every repetition (points) and its "
                                   "box plot (median, quartiles, whiskers to 1.5 IQR), per run."))
    return parts


def _experiment_figures(report: Report, exp: str, runs: list[Run], ceiling: str, with_filters: bool) -> list[str]:
    parts = []
    frame = runs_frame(runs)
    axes = stats.grid_axes(frame)
    if axes:
        panels = [(axis[3:], stats.marginal(frame, axis)) for axis in axes]
        path = figures.hyperparameter_effects(panels, report.out / f"hyperparameters_{exp}.png",
                                              f"{exp}: effect of each hyperparameter (other axes pooled)")
        report.figures.append(path)
        parts.append(html.figure(path, "Final validation correlation of all repetitions at each value of "
                                       "one grid axis, every other axis pooled; the red line joins medians."))
    parts += _ceiling_figure(report, exp, runs, ceiling)
    parts += _region_figure(report, exp, runs)
    if with_filters:
        parts += _filter_figures(report, exp, runs)
    return parts


def _ceiling_figure(report: Report, exp: str, runs: list[Run], ceiling: str) -> list[str]:
    from .stats import fraction_of_ceiling

    info = dataset_info(runs[0].spec, runs[0].record)
    if info is None or ceiling not in info.ceilings:
        reason = info.error if info is not None and info.error else "runs from the thesis pipeline"
        report.notes.append(f"{exp}: no noise-ceiling figure ({reason})")
        return []
    best = sorted(runs, key=lambda r: -np.median(r.finals()))[:MAX_SCATTER]
    series = []
    for run in best:
        per = [r.val_per_neuron for r in run.reps if r.val_per_neuron is not None]
        if not per or len(per[0]) != len(info.ceilings[ceiling]):
            continue
        corr = np.median(np.stack(per), axis=0)
        series.append({"label": run.label, "ceiling": info.ceilings[ceiling], "corr": corr,
                       "slope": fraction_of_ceiling(corr, info.ceilings[ceiling]),
                       "region": info.region_of if len(info.regions) > 1 else None})
    if not series:
        return []
    path = figures.ceiling_scatter(series, ceiling, report.out / f"ceiling_{exp}.png",
                                   f"{exp}: per-neuron correlation vs noise ceiling")
    report.figures.append(path)
    return [html.figure(path, f"Each point is a neuron: x its noise ceiling ({ceiling}, from the raw "
                              "validation repeats), y the model's validation correlation (median over "
                              "repetitions). The line through the origin has the fraction-of-ceiling slope.")]


def _region_figure(report: Report, exp: str, runs: list[Run]) -> list[str]:
    groups = [(r.tick, per) for r in runs if (per := region_values(r))]
    if not groups:
        return []
    info = dataset_info(runs[0].spec, runs[0].record)
    path = figures.region_results(groups, anchors.region_anchors(info.name if info else None),
                                  report.out / f"regions_{exp}.png", f"{exp}: results per region")
    report.figures.append(path)
    return [html.figure(path, "Mean validation correlation over each region's neurons, per repetition, and "
                              "the neuron-weighted mean over regions; grey lines are published values.")]


def _filter_figures(report: Report, exp: str, runs: list[Run]) -> list[str]:
    stored = [r for r in runs if r.source == "store" and r.reps]
    if not stored:
        return []
    run = max(stored, key=lambda r: np.median(r.finals()))
    rep = max(run.reps, key=lambda r: r.val_correlation)
    if rep.model is None or not rep.model.is_file():
        report.notes.append(f"{exp}: no filter figure (model of {run.run_id} repetition {rep.rep} is missing)")
        return []
    try:
        found = model_filters(load_model(rep.model))
    except StoreError as exc:
        report.notes.append(f"{exp}: no filter figure ({exc})")
        return []
    parts = []
    for fs in found:
        path = figures.filter_grid(fs.images, report.out / f"filters_{exp}_{fs.layer}.png",
                                   f"{run.label}, repetition {rep.rep}: {fs.layer} ({fs.kind})")
        report.figures.append(path)
        parts.append(html.figure(path, f"{fs.kind} filters of layer {fs.layer} ({fs.component}) of the best "
                                       f"repetition ({rep.rep}, r = {rep.val_correlation:.3f}) of the best run "
                                       f"{run.run_id}; red positive, blue negative, each on its own scale."))
    return parts


def _manifest_entry(runs: list[Run]) -> str:
    specs = [r.spec for r in runs if r.spec]
    if not specs:
        return html.paragraph("Runs of the thesis pipeline itself: no manifest entry is stored.")
    grid: dict[str, list] = {}
    for run in runs:
        for key, value in run.hyperparameters.items():
            grid.setdefault(key, [])
            if value not in grid[key]:
                grid[key].append(value)
    entries = [{"experiment": s["experiment"], "folder": s["folder"], "manifest": s.get("manifest"),
                "dataset": s["dataset"], "model": [{"component": c["component"], **c["params"]} for c in s["model"]],
                "training": s["training"], "seeds": s["seeds"]} for s in specs]
    entry = {**_merge(entries), "grid (values among these runs)": grid}
    return ("<h3>Manifest entry (from the runs' frozen specs; a value that differs between runs is shown "
            "as 'varies [values]')</h3>"
            + html.pre(yaml.safe_dump(entry, sort_keys=False, default_flow_style=None, width=100, allow_unicode=True)))


def _merge(values: list):
    """One structure from several: equal leaves kept, differing ones as 'varies [a, b]'."""
    first = values[0]
    if all(isinstance(v, dict) for v in values) and all(v.keys() == first.keys() for v in values):
        return {k: _merge([v[k] for v in values]) for k in first}
    if all(isinstance(v, list) for v in values) and len({len(v) for v in values}) == 1 and \
            any(isinstance(x, (dict, list)) for x in first):
        return [_merge([v[i] for v in values]) for i in range(len(first))]
    distinct = []
    for v in values:
        if v not in distinct:
            distinct.append(v)
    if len(distinct) == 1:
        return first
    return "varies " + json.dumps(distinct)


def _provenance(runs: list[Run]) -> str:
    rows = []
    for run in runs:
        record = run.record or {}
        info = dataset_info(run.spec, run.record)
        vers = record.get("versions") or {}
        rows.append({"run": run.run_id, "source": run.source, "spec hash": (run.spec or {}).get("spec_hash"),
                     "manifest commit": record.get("manifest_commit"),
                     "neuro": vers.get("msc-neuro-cli"), "tensorflow": vers.get("tensorflow"),
                     "dataset": info.name if info else None,
                     "dataset sha256": (record.get("dataset_sha256") or (info.checksum if info else None)
                                        or "")[:16] or None,
                     "finished": time.strftime("%Y-%m-%d %H:%M", time.localtime(record["finished"]))
                     if record.get("finished") else None})
    import matplotlib
    import pandas
    import scipy
    now = {**versions(), "matplotlib": matplotlib.__version__, "pandas": pandas.__version__,
           "scipy": scipy.__version__, "host": platform.node()}
    return (html.table(rows, caption="per run: what trained it (dataset sha256: first 16 hex digits, over "
                                     "the preprocessed arrays)")
            + "<h3>Versions that wrote this report</h3>"
            + html.table([{"package": k, "version": v} for k, v in now.items()]))
