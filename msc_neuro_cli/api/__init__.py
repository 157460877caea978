"""The plugin API: every name a neuro plugin may import, and the only core module it imports.

Third-party and built-in plugins alike import from here (``from msc_neuro_cli.api import Param``);
everything else in ``msc_neuro_cli`` may change between releases. Importing this module loads no
TensorFlow (``neuro status`` and ``neuro plugins`` stay fast); the model-building names live in
:mod:`msc_neuro_cli.api.layers` and the test kits in :mod:`msc_neuro_cli.api.testing`.
docs/plugins.md documents every name (a test checks it), grouped as below.
"""

from __future__ import annotations

from typing import Any

from msc_neuro_cli import __version__
# --- declaring a plugin and its parameters --------------------------------------------------
from msc_neuro_cli.plugin_system.hookspecs import hookimpl
from msc_neuro_cli.plugin_system.params import COMMON_PARAMS, Param, resolve_params
from msc_neuro_cli.plugin_system.registry import (BackendRegistry, CommandRegistry, ComponentRegistry, DatasetRegistry,
                                                  SamplerRegistry, TrackerRegistry)
# --- errors ---------------------------------------------------------------------------------
from msc_neuro_cli.errors import BackendError, DatasetError, ManifestError, NeuroError, RegistryError, StoreError
# --- datasets -------------------------------------------------------------------------------
from msc_neuro_cli.datasets.contract import PREPROCESS_PARAMS, Capabilities, Dataset, DatasetSource, preprocess, validate
from msc_neuro_cli.datasets.loading import load_dataset
from msc_neuro_cli.datasets.lazy_arrays import (H5Array, LazyArray, TransformedArray, finite_range, first_nonfinite,
                                                is_lazy, iter_rows, memory_budget, moments)
# --- backends -------------------------------------------------------------------------------
from msc_neuro_cli.runs.backend import (TERMINAL_STATES, Backend, JobReporter, JobStatus, RunState, Submission,
                                       memory_mib, memory_param)
from msc_neuro_cli.runs.tracking import Tracker, flat_parameters
from msc_neuro_cli.runs.worker_command import python_program, worker_argv
# --- searches -------------------------------------------------------------------------------
from msc_neuro_cli.spec.search_space import Dimension, FinishedTrial, SearchSampler, SearchSpec
# --- the run store --------------------------------------------------------------------------
from msc_neuro_cli.store.fsutil import atomic_write_bytes, atomic_write_json, read_json
from msc_neuro_cli.store.ledger import LEDGER_NAME
from msc_neuro_cli.store.ledger import entries as ledger_entries
from msc_neuro_cli.store.provenance import versions
from msc_neuro_cli.store.run_store import RunId, RunStore
# --- metrics --------------------------------------------------------------------------------
from msc_neuro_cli.metrics.ceilings import (cc_max, fraction_of_oracle, nanmean, neuron_weighted_mean,
                                            oracle_conservative, oracle_jackknife)
from msc_neuro_cli.metrics.ceilings import ceilings as noise_ceilings
from msc_neuro_cli.metrics.correlation import mean_correlation, per_neuron_correlation
from msc_neuro_cli.metrics.scoring import score_replicas, summarise_reps
# --- command output -------------------------------------------------------------------------
from msc_neuro_cli.output import output_format, snake_keys, stdout_console, tsv_text


def installed_registries():
    """The registries of every installed plugin, loaded once per process (``.components``,
    ``.backends``, ``.datasets``, ``.commands``): for commands and composite datasets that look up
    another plugin's registration by name. Hooks get their registry as an argument instead."""
    from msc_neuro_cli.plugin_system.manager import registries

    return registries()


def load_manifest(path):
    """An ``experiments.yaml`` read and validated (its ``Experiment`` objects, ``aliases``, ``profiles``)."""
    from msc_neuro_cli.spec.manifest import load_manifest as load

    return load(path)


def load_model(path):
    """A saved repetition (``models/.../NAME__REP.keras``) as a plain Keras model (imports TensorFlow)."""
    from msc_neuro_cli.store.saved_models import load_model as load

    return load(path)


__all__ = [
    "__version__",
    # plugins and parameters
    "hookimpl", "Param", "resolve_params", "COMMON_PARAMS",
    "ComponentRegistry", "BackendRegistry", "DatasetRegistry", "CommandRegistry", "TrackerRegistry",
    "SamplerRegistry",
    "installed_registries",
    # errors
    "NeuroError", "ManifestError", "RegistryError", "DatasetError", "StoreError", "BackendError",
    # datasets
    "Dataset", "DatasetSource", "Capabilities", "PREPROCESS_PARAMS", "preprocess", "validate", "load_dataset",
    "LazyArray", "H5Array", "TransformedArray", "is_lazy", "iter_rows", "moments", "first_nonfinite",
    "finite_range", "memory_budget",
    # backends
    "Backend", "Submission", "JobStatus", "worker_argv", "python_program", "JobReporter", "RunState",
    "TERMINAL_STATES", "memory_mib", "memory_param",
    # experiment trackers
    "Tracker", "flat_parameters",
    # searches
    "SearchSampler", "SearchSpec", "Dimension", "FinishedTrial",
    # the run store
    "RunId", "RunStore", "LEDGER_NAME", "ledger_entries", "atomic_write_json", "atomic_write_bytes",
    "read_json", "versions", "load_manifest", "load_model",
    # metrics
    "per_neuron_correlation", "mean_correlation", "noise_ceilings", "cc_max", "oracle_jackknife",
    "oracle_conservative", "fraction_of_oracle", "nanmean", "neuron_weighted_mean", "score_replicas",
    "summarise_reps",
    # command output
    "stdout_console", "snake_keys", "output_format", "tsv_text",
]
