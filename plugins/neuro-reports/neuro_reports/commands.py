"""The plugin's CLI commands (Typer functions, mounted on ``neuro`` by the core)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from msc_neuro_cli.api import NeuroError, atomic_write_bytes, output_format, snake_keys, stdout_console, tsv_text

from .neurons import CEILINGS, DEFAULT_CEILING

STORE_HELP = "Run store root (the thesis pipeline's training_data/)."


def _store():
    return typer.Option(Path("training_data"), "--store", envvar="NEURO_STORE", help=STORE_HELP)


def _manifest():
    return typer.Option(Path("experiments.yaml"), "--manifest", "-m", envvar="NEURO_MANIFEST",
                        help="Experiment manifest (only to resolve aliases; skipped if missing).")


def _check_ceiling(ceiling: str) -> str:
    if ceiling not in CEILINGS:
        raise NeuroError(f"--ceiling must be one of {', '.join(CEILINGS)}, got {ceiling!r}")
    return ceiling


def _console():
    from rich.console import Console
    return stdout_console(), Console(stderr=True)


def report(
    experiments: List[str] = typer.Argument(..., help="Experiments (keys or aliases) or run ids FOLDER/EXPxRUN."),
    out: Path = typer.Option(Path("reports"), "--out", "-o", help="Folder for index.html and the PNGs."),
    runs: Optional[List[str]] = typer.Option(None, "--runs", help="Only these runs: index, EXPxRUN or "
                                             "FOLDER/EXPxRUN (repeatable)."),
    median_mode: bool = typer.Option(True, "--median-mode/--no-median-mode",
                                     help="Quantiles 90/10/50 (the thesis figures) or the thesis pipeline's "
                                          "default 95/5/75."),
    ceiling: str = typer.Option(DEFAULT_CEILING, "--ceiling", help=f"Noise ceiling: {', '.join(CEILINGS)}."),
    anchors: bool = typer.Option(True, "--anchors/--no-anchors", help="Draw published values (Antolík data)."),
    filters: bool = typer.Option(True, "--filters/--no-filters", help="Load models and draw their filters."),
    store: Path = _store(),
    manifest: Path = _manifest(),
):
    """Write PNG figures and one self-contained index.html for some experiments.

    Example: [bold]neuro report demo --out reports/demo[/bold], then open reports/demo/index.html
    """
    from .report import build_report

    console, err = _console()
    result = build_report(store, experiments, out, manifest, runs, median_mode, _check_ceiling(ceiling),
                          anchors, filters)
    for note in result.notes:
        err.print(f"note: {note}", highlight=False)
    console.print(f"wrote {len(result.figures)} figures and {result.index}", highlight=False)


def compare(
    runs: List[str] = typer.Argument(..., help="Experiments or run ids (FOLDER/EXPxRUN, EXPxRUN) to compare."),
    reference: Optional[str] = typer.Option(None, "--reference", "-r", help="Run to test against "
                                            "(default: the best by median)."),
    sort: str = typer.Option("median", "--sort", help="Column to sort by (descending)."),
    ceiling: str = typer.Option(DEFAULT_CEILING, "--ceiling", help=f"Noise ceiling: {', '.join(CEILINGS)} "
                                "(validation tier)."),
    tier: str = typer.Option("auto", "--tier", help="Final correlations of the validation or the test tier; "
                             "auto: test when every run has test-tier scores."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    as_tsv: bool = typer.Option(False, "--tsv", help="Tab-separated values, every digit kept (docs/output.md)."),
    store: Path = _store(),
    manifest: Path = _manifest(),
):
    """Compare runs: median/90th/10th final correlation, fraction of ceiling, time, Mann-Whitney U.

    Example: [bold]neuro compare bs4_exp5 bl4 --reference baseline/bl4[/bold]
    """
    import json

    from .compare import compare_rows, print_table

    fmt = output_format(as_json, as_tsv)
    rows, ref, tier = compare_rows(store, runs, reference, manifest, _check_ceiling(ceiling), sort, tier)
    rows = [{**row, "tier": tier} for row in rows] if fmt != "table" else rows
    if fmt == "json":  # stable snake_case keys ("Δ median" -> "delta_median"), NaN -> null
        typer.echo(json.dumps([snake_keys(row) for row in rows], indent=1, default=str))
    elif fmt == "tsv":  # the same keys
        sys.stdout.write(tsv_text([snake_keys(row) for row in rows]))
    else:
        print_table(rows, ref, _console()[0], tier)


def tensorboard(
    experiments: List[str] = typer.Argument(..., help="Experiments or run ids whose logs to show."),
    port: int = typer.Option(6006, "--port", min=1, max=65535, help="Port to serve on."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface (0.0.0.0 exposes it to the network)."),
    print_only: bool = typer.Option(False, "--print-command", help="Print the command; start nothing."),
    store: Path = _store(),
    manifest: Path = _manifest(),
):
    """Start TensorBoard on the experiments' logs (Ctrl-C stops it).

    Example: [bold]neuro tensorboard demo --port 6006[/bold], then open http://127.0.0.1:6006/
    """
    from .loading import aliases_from_manifest
    from .tensorboard import command, log_folders, serve

    folders = log_folders(store, experiments, aliases_from_manifest(manifest))
    argv = command(folders, host, port)
    if print_only:
        typer.echo(" ".join(argv))
        return
    print(f"TensorBoard on {len(folders)} runs at http://{host}:{port}/ (Ctrl-C stops it)", flush=True)
    serve(argv)


def export_curves(
    experiments: Optional[List[str]] = typer.Argument(None, help="Experiments or run ids (default: all)."),
    fmt: str = typer.Option("csv", "--format", "-f", help="csv or json."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write to a file instead of stdout."),
    store: Path = _store(),
    manifest: Path = _manifest(),
):
    """Export training curves: one row per run, repetition and summary step.

    Example: [bold]neuro export-curves demo --format csv -o curves.csv[/bold]
    """

    from .export import curves_text
    from .loading import aliases_from_manifest, load_runs, run_order, select

    if fmt not in ("csv", "json"):
        raise NeuroError(f"--format must be csv or json, got {fmt!r}")
    chosen = sorted(select(load_runs(store), experiments, aliases_from_manifest(manifest), str(store)), key=run_order)
    text, count = curves_text(chosen, fmt)
    if out:
        atomic_write_bytes(out, text.encode())
        _console()[1].print(f"wrote {count} rows to {out}", highlight=False)
    else:
        sys.stdout.write(text)


def export_h5(
    experiments: List[str] = typer.Argument(..., help="Experiments or run ids."),
    out: Path = typer.Option(..., "--out", "-o", help="HDF5 file to write."),
    ceilings: bool = typer.Option(True, "--ceilings/--no-ceilings", help="Load datasets for noise ceilings."),
    store: Path = _store(),
    manifest: Path = _manifest(),
):
    """Export per-repetition and per-neuron arrays (and curves, ceilings) to HDF5.

    Example: [bold]neuro export-h5 demo --out demo.h5[/bold]; layout in docs/reports.md
    """
    from .export import write_h5
    from .loading import aliases_from_manifest, load_runs, run_order, select

    chosen = sorted(select(load_runs(store), experiments, aliases_from_manifest(manifest), str(store)), key=run_order)
    count = write_h5(chosen, out, store, ceilings)
    _console()[1].print(f"wrote {count} runs to {out}", highlight=False)


COMMANDS = {"report": report, "compare": compare, "tensorboard": tensorboard,
            "export-curves": export_curves, "export-h5": export_h5}
