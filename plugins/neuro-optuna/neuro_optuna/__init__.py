"""neuro plugin: the ``random`` and ``tpe`` samplers of an experiment's ``search:`` block, through
Optuna (see docs/integrations.md).

The samplers are registered by reference, so Optuna is imported only when a search asks for a
trial; every other command starts as fast as without this plugin.
"""

from msc_neuro_cli.api import hookimpl


@hookimpl
def register_samplers(registry):
    registry.add("random", "neuro_optuna.samplers:RandomSearch")
    registry.add("tpe", "neuro_optuna.samplers:TpeSearch")
