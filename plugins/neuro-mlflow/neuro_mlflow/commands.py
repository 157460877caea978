"""``neuro mlflow sync``: log finished runs that are not in MLflow yet, optionally with a report.

Workers log their runs when they finish; this covers runs trained before the plugin was
installed, in an image without it, or on nodes that cannot reach the tracking server.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from msc_neuro_cli.api import NeuroError


def sync(
    experiments: Optional[List[str]] = typer.Argument(None, help="Experiment keys or run ids FOLDER/EXPxRUN "
                                                      "(default: every finished run)."),
    report: Optional[Path] = typer.Option(None, "--report", help="A report folder (neuro report --out DIR) "
                                          "to attach to each of these runs as artifacts."),
    store: Path = typer.Option(Path("training_data"), "--store", envvar="NEURO_STORE",
                               help="Run store root (the thesis pipeline's training_data/)."),
):
    """Log finished runs to MLflow (MLFLOW_TRACKING_URI, else STORE/mlflow/mlflow.db).

    Example: [bold]neuro mlflow sync demo --report reports/demo[/bold]
    """
    from msc_neuro_cli.api import RunStore

    from .tracker import MlflowTracker, tracking_uri

    if report is not None and not report.is_dir():
        raise NeuroError(f"--report {report}: not a folder")
    runs = RunStore(store)
    wanted = set(experiments or ())
    finished = [(rid, rec) for rid in runs.run_ids() if (rec := runs.read_record(rid)) is not None]
    chosen = [(rid, rec) for rid, rec in finished
              if not wanted or rec["experiment"] in wanted or str(rid) in wanted]
    unknown = wanted - {rec["experiment"] for _, rec in finished} - {str(rid) for rid, _ in finished}
    if unknown:
        raise NeuroError(f"no finished runs of {', '.join(sorted(unknown))} in the store {store}")
    tracker = MlflowTracker()
    for rid, record in chosen:
        parent = tracker.log_run(runs, rid, record, report)
        typer.echo(f"{rid}\t{parent}")
    typer.echo(f"{len(chosen)} run(s) in {tracking_uri(runs)}", err=True)
