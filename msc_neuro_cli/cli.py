"""The ``neuro`` command line: a thin Typer app; each command delegates to a module.

Plugins add commands through the ``register_commands`` hook (mounted by
:func:`_mount_plugin_commands` on the first :func:`main` call).
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

from msc_neuro_cli import __version__
from msc_neuro_cli.errors import NeuroError
from msc_neuro_cli.output import output_format, stdout_console, tsv_text

console = stdout_console()  # piped output keeps every digit
err_console = Console(stderr=True)

STORE_HELP = "Run store root (the thesis pipeline's training_data/)."
MANIFEST_HELP = "Experiment manifest."

app = typer.Typer(
    name="neuro", no_args_is_help=True, rich_markup_mode="rich", add_completion=True,
    help="Declare, train, track and compare deep-network models of V1 population responses.\n\n"
         "Example: [bold]neuro run demo --jobs 2[/bold], then [bold]neuro status[/bold] and "
         "[bold]neuro export-metrics demo --format csv[/bold].")


def _store_option():
    return typer.Option(Path("training_data"), "--store", envvar="NEURO_STORE", help=STORE_HELP)


def _manifest_option():
    return typer.Option(Path("experiments.yaml"), "--manifest", "-m", envvar="NEURO_MANIFEST", help=MANIFEST_HELP)


def _echo_json(value) -> None:
    typer.echo(json.dumps(value, indent=1, default=str))


def _tsv_option():
    return typer.Option(False, "--tsv", help="Tab-separated values with a header row, every digit kept "
                                             "(docs/output.md).")


def _echo_rows(rows: list[dict], fmt: str) -> bool:
    """Print ``rows`` as JSON or TSV (``fmt`` from :func:`output_format`); False: draw the table."""
    if fmt == "json":
        _echo_json(rows)
    elif fmt == "tsv":
        sys.stdout.write(tsv_text(rows))
    return fmt != "table"


def _registries():
    from msc_neuro_cli.plugin_system.manager import registries
    return registries()


@app.command()
def run(
    experiment: str = typer.Argument(..., help="Experiment name or alias from the manifest."),
    backend: str = typer.Option("local", "--backend", "-b", help="Execution backend or profile name."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Runs at a time (local) or array throttle."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan; train nothing."),
    force: bool = typer.Option(False, "--force", help="Retrain runs that already finished."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Resubmit only failed or lost runs."),
    wait: bool = typer.Option(False, "--wait", help="Cluster backends: follow the sweep until it ends."),
    only: Optional[List[int]] = typer.Option(None, "--run", help="Only these run indices (repeatable)."),
    overrides: Optional[List[str]] = typer.Option(None, "--set", help="Override a profile key: --set cores=2 (repeatable)."),
    manifest_overrides: Optional[List[str]] = typer.Option(
        None, "--override", "-o", help="Override a manifest value of the experiment: -o training.epochs=2, "
                                       "-o model.1.units=0.4N (YAML value; repeatable)."),
    manifest: Path = _manifest_option(),
    store: Path = _store_option(),
):
    """Train every unfinished run of an experiment.

    Example: [bold]neuro run exp3 --backend local --jobs 2[/bold] (runs bs4_exp3), or
    [bold]neuro run bs3_exp5 --dry-run -o training.epochs=2[/bold] to see its 40 runs first.
    """
    from msc_neuro_cli.runs.submit import run_experiment
    code = run_experiment(experiment, backend, jobs, dry_run, force, retry_failed, wait, only,
                          manifest, store, console, overrides, manifest_overrides)
    raise typer.Exit(code)


@app.command()
def status(
    experiments: Optional[List[str]] = typer.Argument(None, help="Experiment names (default: all)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    as_tsv: bool = _tsv_option(),
    store: Path = _store_option(),
):
    """Show the state of runs: planned, queued, running, finished, failed, interrupted, lost.

    Example: [bold]neuro status demo[/bold] or [bold]neuro status --json | jq .[/bold]
    """
    from msc_neuro_cli.runs.results import require_experiments
    from msc_neuro_cli.runs.status import collect_status, print_status
    fmt = output_format(as_json, as_tsv)
    rows = collect_status(store, experiments, _registries())
    require_experiments(experiments, (row.get("experiment") for row in rows), store)
    if not _echo_rows(rows, fmt):
        print_status(rows, console)


@app.command()
def cancel(
    experiment: str = typer.Argument(..., help="Experiment name as stored (see `neuro status`)."),
    runs: Optional[List[int]] = typer.Option(None, "--run", help="Only these run indices (repeatable)."),
    store: Path = _store_option(),
):
    """Cancel an experiment's queued and running jobs on their engine.

    Example: [bold]neuro cancel bs4_exp5 --run 3[/bold]; `neuro run ... --retry-failed` resubmits them.
    """
    from msc_neuro_cli.runs.cancel import cancel_runs
    done = cancel_runs(store, experiment, runs, _registries())
    console.print(f"cancelled {len(done)} runs" + (": " + ", ".join(done) if done else ""))


@app.command("export-metrics")
def export_metrics(
    experiments: Optional[List[str]] = typer.Argument(None, help="Experiment names (default: all)."),
    fmt: str = typer.Option("csv", "--format", "-f", help="csv, json or tsv."),
    as_json: bool = typer.Option(False, "--json", help="Same as --format json (docs/output.md)."),
    as_tsv: bool = typer.Option(False, "--tsv", help="Same as --format tsv (docs/output.md)."),
    per_neuron: bool = typer.Option(False, "--per-neuron", help="One row per neuron (with its noise ceilings)."),
    summary: bool = typer.Option(False, "--summary", help="One row per run: median, p90, p10 over repetitions."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write to a file instead of stdout."),
    store: Path = _store_option(),
):
    """Export one row per (experiment, run, repetition) with hyperparameters and metrics.

    Metrics: validation/training correlation and, for datasets with repeats, cc_abs, cc_norm,
    feve, eve, fraction_of_oracle and fraction_of_ceiling (docs/metrics.md).
    Example: [bold]neuro export-metrics demo --format csv -o demo.csv[/bold]
    """
    from msc_neuro_cli.runs.results import metric_rows, require_experiments, selected_runs, summary_rows, to_csv
    from msc_neuro_cli.store.run_store import RunStore
    fmt = output_format(as_json, as_tsv) if as_json or as_tsv else fmt
    if fmt not in ("csv", "json", "tsv"):
        raise NeuroError(f"--format must be csv, json or tsv, got {fmt!r}")
    if summary and per_neuron:
        raise NeuroError("--summary and --per-neuron cannot be combined")
    s = RunStore(store)
    chosen = selected_runs(s, experiments)
    require_experiments(experiments, (spec["experiment"] for _, spec in chosen), store)
    rows = summary_rows(s, chosen) if summary else metric_rows(s, chosen, per_neuron)
    text = json.dumps(rows, indent=1) + "\n" if fmt == "json" else tsv_text(rows) if fmt == "tsv" else to_csv(rows)
    if out:
        from msc_neuro_cli.store.fsutil import atomic_write_bytes
        atomic_write_bytes(out, text.encode())
        err_console.print(f"wrote {len(rows)} rows to {out}")
    else:
        sys.stdout.write(text)


@app.command()
def plugins(as_json: bool = typer.Option(False, "--json", help="Machine-readable output (docs/output.md)."),
            as_tsv: bool = _tsv_option()):
    """List installed plugins, their versions and what each registers.

    Example: [bold]neuro plugins[/bold]
    """
    fmt = output_format(as_json, as_tsv)
    regs = _registries()
    if _echo_rows([{"name": i.name, "version": i.version, "module": i.module, "error": i.error,
                    "provides": i.provides} for i in regs.plugins], fmt):
        return
    table = Table(title="neuro plugins")
    for col in ("plugin", "version", "provides"):
        table.add_column(col)
    for info in regs.plugins:
        provides = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in sorted(info.provides.items()))
        table.add_row(info.name, info.version, f"[red]failed: {info.error}[/red]" if info.error else provides or "-")
    console.print(table)


@app.command()
def experiments(manifest: Path = _manifest_option(),
                as_json: bool = typer.Option(False, "--json", help="Machine-readable output (docs/output.md)."),
                as_tsv: bool = _tsv_option()):
    """List the manifest's experiments with their runs and repetitions.

    Example: [bold]neuro experiments -m experiments.yaml[/bold]
    """
    from msc_neuro_cli.spec.manifest import load_manifest
    from msc_neuro_cli.spec.plan import run_count
    fmt = output_format(as_json, as_tsv)
    m = load_manifest(manifest)
    if _echo_rows([{"experiment": key, "aliases": exp.aliases, "folder": exp.folder,
                    "runs": run_count(exp), "repetitions": len(exp.seeds), "description": exp.description,
                    "search": exp.search and {"sampler": exp.search.sampler, "trials": exp.search.trials,
                                              "metric": exp.search.metric, "direction": exp.search.direction}}
                   for key, exp in m.experiments.items()], fmt):
        return
    table = Table(title=str(manifest))
    for col in ("experiment", "aliases", "folder", "runs", "reps"):
        table.add_column(col, no_wrap=col in ("experiment", "runs", "reps"), max_width=26)
    table.add_column("description", min_width=24)
    for key, exp in m.experiments.items():
        runs = f"{exp.search.trials} trials ({exp.search.sampler})" if exp.search else str(run_count(exp))
        table.add_row(key, ", ".join(exp.aliases), exp.folder, runs, str(len(exp.seeds)), exp.description)
    console.print(table)


plugin_app = typer.Typer(no_args_is_help=True, help="Write new plugins.")
app.add_typer(plugin_app, name="plugin")


@plugin_app.command("new")
def plugin_new(
    name: str = typer.Argument(..., help="Plugin name: lowercase letters, digits, _ (e.g. divnorm)."),
    kind: str = typer.Option("component", "--kind", help="What the plugin provides: component, dataset or backend."),
    dest: Path = typer.Option(Path("."), "--dest", help="Folder to write neuro-NAME/ in."),
):
    """Write a working plugin package: pyproject with the entry point, a documented example, its tests.

    Example: [bold]neuro plugin new divnorm[/bold], then [bold]pip install -e neuro-divnorm[/bold]
    and [bold]python -m pytest neuro-divnorm/tests[/bold].
    """
    from msc_neuro_cli.scaffold import new_plugin
    root = new_plugin(name, kind, dest)
    console.print(f"wrote {root}: pip install -e {root} && python -m pytest {root / 'tests'}")


@app.command(hidden=False)
def worker(
    run_id: str = typer.Argument(..., help="FOLDER/EXPxRUN as stored under runs/."),
    store: Path = _store_option(),
):
    """Train one run (what every backend executes). Example: [bold]neuro worker demo/demox0[/bold]"""
    from msc_neuro_cli.runs.worker import run_worker
    raise typer.Exit(run_worker(store, run_id))


@app.callback(invoke_without_command=True)
def _root(version: bool = typer.Option(False, "--version", help="Print the version and exit."),
          store: Optional[Path] = typer.Option(None, "--store", help=STORE_HELP + " For every command."),
          manifest: Optional[Path] = typer.Option(None, "--manifest", "-m", help=MANIFEST_HELP + " For every command.")):
    if version:
        typer.echo(f"neuro {__version__}")
        raise typer.Exit()
    # the commands' own --store/--manifest read these variables; given after the command they win
    for variable, value in (("NEURO_STORE", store), ("NEURO_MANIFEST", manifest)):
        if value is not None:
            os.environ[variable] = str(value)


def _mount_plugin_commands(regs) -> None:
    groups: dict[str, typer.Typer] = {}
    for entry in regs.commands.entries():
        spec = entry.obj
        target = app
        for part in spec.path[:-1]:
            if part not in groups:
                groups[part] = typer.Typer(no_args_is_help=True, help=f"{part} commands (from plugins).")
                app.add_typer(groups[part], name=part)
            target = groups[part]
        target.command(spec.path[-1], help=spec.help)(spec.func)


def _format_warning(message, category, filename, lineno, line=None):
    return f"warning: {message}\n"


_mounted = False


def main(argv: list[str] | None = None) -> None:
    """Console entry point; ``argv`` lets tests call it in-process (it always raises SystemExit)."""
    global _mounted
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    warnings.formatwarning = _format_warning
    saved = {variable: os.environ.get(variable) for variable in ("NEURO_STORE", "NEURO_MANIFEST")}
    try:
        if not _mounted:
            _mount_plugin_commands(_registries())
            _mounted = True
        app(args=argv, prog_name="neuro")
    except NeuroError as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    finally:  # global --store/--manifest hold for this call only (tests call main in-process)
        for variable, value in saved.items():
            os.environ.pop(variable, None) if value is None else os.environ.__setitem__(variable, value)
