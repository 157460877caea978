"""Keras serialisation names of component classes: ``PLUGIN>Class``, one package per plugin.

Every layer class the component registry loads is registered under its own plugin's package, so
two plugins may both ship a class called ``Conv`` and each saved model loads its own. Models saved
before this rule name the built-in classes ``neuro>Class``; :func:`legacy_scope` maps those names
to the built-in plugins' classes while a model loads, whatever a third-party module registered
under ``neuro>`` since.
"""

from __future__ import annotations

import contextlib

from msc_neuro_cli.errors import RegistryError

# top-level packages whose classes were saved as "neuro>Class" before per-plugin names
BUILTIN_PACKAGES = frozenset({"msc_neuro_cli", "neuro_basics", "neuro_cores", "neuro_dense", "neuro_frontends",
                              "neuro_readouts"})
_legacy: dict[str, type] = {}


def register_class(cls: type, plugin: str) -> str:
    """Register ``cls`` for Keras as ``{plugin}>{cls.__name__}`` (its saves use that name);
    a name another class already holds is a RegistryError naming both."""
    from keras.src.saving import object_registration as reg

    name = f"{plugin}>{cls.__name__}"
    holder = reg.GLOBAL_CUSTOM_OBJECTS.get(name)
    if holder is not None and holder is not cls:
        raise RegistryError(f"plugin {plugin!r}: Keras name {name!r} already belongs to "
                            f"{holder.__module__}.{holder.__qualname__}")
    previous = reg.GLOBAL_CUSTOM_NAMES.get(cls)
    if previous == f"neuro>{cls.__name__}" and cls.__module__.split(".")[0] in BUILTIN_PACKAGES:
        _legacy.setdefault(previous, cls)
    reg.GLOBAL_CUSTOM_OBJECTS[name] = cls
    reg.GLOBAL_CUSTOM_NAMES[cls] = name
    return name


def legacy_scope():
    """A context in which old ``neuro>Class`` names resolve to the built-in classes."""
    import keras

    return keras.saving.custom_object_scope(dict(_legacy)) if _legacy else contextlib.nullcontext()
