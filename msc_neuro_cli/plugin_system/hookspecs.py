"""The hooks a neuro plugin implements. Each is handed a typed registry to fill.

A plugin is a module (found through the ``neuro.plugins`` entry-point group) with functions
decorated by ``msc_neuro_cli.api.hookimpl``::

    from msc_neuro_cli.api import hookimpl

    @hookimpl
    def register_components(registry):
        registry.layer("my_layer", MyLayer)

Every hook is optional; implement those you need. The documentation of each hook lives here and
in docs/plugins.md (a test checks both name every hook).
"""

import pluggy

PROJECT = "neuro"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_components(registry):
    """Register model components.

    :param registry: a :class:`msc_neuro_cli.api.ComponentRegistry`; call
        ``registry.layer(name, cls)``, ``registry.activation(name, fn)``,
        ``registry.regularizer(name, fn)``, ``registry.loss(name, fn)`` and
        ``registry.initializer(name, fn)``.
    """


@hookspec
def register_backends(registry):
    """Register execution backends.

    :param registry: a :class:`msc_neuro_cli.api.BackendRegistry`; call
        ``registry.add(name, BackendSubclass)``.
    """


@hookspec
def register_datasets(registry):
    """Register dataset sources.

    :param registry: a :class:`msc_neuro_cli.api.DatasetRegistry`; call
        ``registry.add(name, DatasetSourceSubclass)``.
    """


@hookspec
def register_commands(registry):
    """Register extra CLI commands.

    :param registry: a :class:`msc_neuro_cli.api.CommandRegistry`; call
        ``registry.add("group command", typer_function, help="...")``.
    """


@hookspec
def register_trackers(registry):
    """Register experiment trackers (MLflow, Weights & Biases, ...), told about every finished run.

    :param registry: a :class:`msc_neuro_cli.api.TrackerRegistry`; call
        ``registry.add(name, TrackerSubclass)`` (or a ``"module:Class"`` reference, so the tracking
        library is imported only when a run finishes). The class subclasses
        :class:`msc_neuro_cli.api.Tracker`: ``run_finished(store, run_id, record)`` gets
        the run record (hyperparameters, spec, seeds, per-repetition curves and scores, paths of the
        models); ``repetition_finished(store, run_id, result)`` optionally each repetition's result.
        A tracker that raises is a one-line warning naming it; the run stays finished.
    """


@hookspec
def register_samplers(registry):
    """Register search samplers: what an experiment's ``search: {sampler: NAME, ...}`` uses to
    propose the parameters of each trial (neuro-optuna registers ``random`` and ``tpe``).

    :param registry: a :class:`msc_neuro_cli.api.SamplerRegistry`; call
        ``registry.add(name, SearchSamplerSubclass)`` (or a ``"module:Class"`` reference, so the
        search library is imported only when a search runs). The class subclasses
        :class:`msc_neuro_cli.api.SearchSampler`: ``suggest(trial, finished)`` returns the
        parameters of trial number ``trial`` given every finished trial (number, parameters,
        metric value); the core plans, trains and stores each trial as an ordinary run.
    """
