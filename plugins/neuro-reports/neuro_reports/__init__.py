"""neuro plugin: figures, HTML reports, comparisons, TensorBoard, exports and a notebook API.

Commands: ``neuro report``, ``neuro compare``, ``neuro tensorboard``, ``neuro export-curves`` and
``neuro export-h5``. Notebook API: :mod:`neuro_reports.api`. Heavy imports (matplotlib, pandas,
scipy, h5py) happen inside the commands, so loading the plugin stays cheap.
"""

import inspect

from msc_neuro_cli.api import hookimpl


@hookimpl
def register_commands(registry):
    from .commands import COMMANDS

    for name, func in COMMANDS.items():
        registry.add(name, func, help=inspect.getdoc(func))
