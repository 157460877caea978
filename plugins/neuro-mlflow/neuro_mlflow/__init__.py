"""neuro plugin: every finished run becomes an MLflow run (see docs/integrations.md).

MLflow is imported only when a run finishes (the tracker is registered by reference), so commands
that never finish a run start as fast as without this plugin.
"""

from msc_neuro_cli.api import hookimpl


@hookimpl
def register_trackers(registry):
    registry.add("mlflow", "neuro_mlflow.tracker:MlflowTracker")


@hookimpl
def register_commands(registry):
    from neuro_mlflow.commands import sync

    registry.add("mlflow sync", sync, help="Log finished runs to MLflow (e.g. runs trained without the plugin).")
