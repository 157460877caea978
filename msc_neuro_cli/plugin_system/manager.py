"""Loads plugins (built-in ones are installed packages like any third party's) and fills registries.

Plugins are found through the ``neuro.plugins`` entry-point group. A plugin that fails to import
is named in a warning and skipped; the rest keep working. ``NEURO_PLUGINS=a,b`` restricts loading
to the named entry points (useful to debug a broken installation).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.metadata import entry_points

import pluggy

from msc_neuro_cli import PLUGIN_ENTRY_POINT_GROUP
from msc_neuro_cli.errors import RegistryError
from msc_neuro_cli.plugin_system import hookspecs
from msc_neuro_cli.plugin_system.registry import (BackendRegistry, CommandRegistry, ComponentRegistry, DatasetRegistry,
                                                  SamplerRegistry, TrackerRegistry)


class PluginLoadWarning(UserWarning):
    pass


@dataclass
class PluginInfo:
    name: str
    version: str
    module: str
    error: str | None = None
    provides: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Registries:
    components: ComponentRegistry
    backends: BackendRegistry
    datasets: DatasetRegistry
    commands: CommandRegistry
    plugins: list[PluginInfo]
    trackers: TrackerRegistry = field(default_factory=TrackerRegistry)
    samplers: SamplerRegistry = field(default_factory=SamplerRegistry)


def _selected(name: str) -> bool:
    only = os.environ.get("NEURO_PLUGINS")
    return not only or name in {n.strip() for n in only.split(",")}


def _load_entry_points(pm: pluggy.PluginManager) -> list[PluginInfo]:
    infos = []
    for ep in sorted(entry_points(group=PLUGIN_ENTRY_POINT_GROUP), key=lambda e: e.name):
        if not _selected(ep.name):
            continue
        version = ep.dist.version if ep.dist is not None else "?"
        info = PluginInfo(ep.name, version, ep.value)
        try:
            module = ep.load()
            pm.register(module, name=ep.name)
        except Exception as exc:  # a broken plugin must not take the tool down
            info.error = f"{type(exc).__name__}: {exc}"
            warnings.warn(f"plugin {ep.name!r} ({ep.value}) failed to load and is skipped: {info.error}",
                          PluginLoadWarning, stacklevel=2)
        infos.append(info)
    return infos


def _skip(info: PluginInfo, reason: str) -> None:
    info.error = reason
    warnings.warn(f"plugin {info.name!r} ({info.module}) is skipped: {reason}", PluginLoadWarning, stacklevel=3)


def _drop_invalid(pm: pluggy.PluginManager, infos: list[PluginInfo]) -> None:
    """Unregister (with a warning) each plugin implementing a hook the specification lacks,
    e.g. a misspelled ``register_component``; the other plugins stay."""
    by_name = {info.name: info for info in infos}
    for name, plugin in list(pm.list_name_plugin()):
        unknown = sorted(caller.name for caller in pm.get_hookcallers(plugin) or []
                         if not caller.has_spec() and any(not impl.optionalhook for impl in caller.get_hookimpls()
                                                          if impl.plugin_name == name))
        if unknown:
            pm.unregister(plugin)
            _skip(by_name.setdefault(name, PluginInfo(name, "?", name)),
                  f"implements {', '.join(unknown)}, which is not a neuro hook (misspelled?)")


def _call_each(pm: pluggy.PluginManager, hook_name: str, registry, set_plugin,
               by_plugin: dict[str, PluginInfo]) -> dict[str, list[str]]:
    """Call one hook plugin by plugin so every registration knows its plugin; a hook that
    raises skips that plugin (with a warning), not the tool."""
    provided: dict[str, list[str]] = {}
    for impl in getattr(pm.hook, hook_name).get_hookimpls():
        info = by_plugin.get(impl.plugin_name)
        if info is not None and info.error:
            continue
        set_plugin(impl.plugin_name)
        snapshot = _names(registry)
        try:
            impl.function(registry=registry)
        except RegistryError:  # a name two plugins claim: neither can be trusted to win
            raise
        except Exception as exc:  # a broken plugin must not take the tool down
            _skip(info or PluginInfo(impl.plugin_name, "?", impl.plugin_name),
                  f"its {hook_name} hook raised {type(exc).__name__}: {exc}")
            continue
        after = _names(registry)
        provided[impl.plugin_name] = sorted(after - snapshot)
    return provided


def _names(registry) -> set[str]:
    if isinstance(registry, ComponentRegistry):
        return {f"{kind} {n}" for kind, reg in registry.all().items() for n in reg.names()}
    return {f"{registry.kind} {n}" for n in registry.names()}


def build_registries(extra_plugins: tuple = ()) -> Registries:
    """Load every plugin and fill fresh registries. ``extra_plugins`` are objects (tests)."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    infos = _load_entry_points(pm)
    for i, plugin in enumerate(extra_plugins):
        name = getattr(plugin, "__name__", f"extra-{i}")
        pm.register(plugin, name=name)
        infos.append(PluginInfo(name, "test", name))
    _drop_invalid(pm, infos)

    components, backends = ComponentRegistry(), BackendRegistry()
    datasets, commands = DatasetRegistry(), CommandRegistry()
    trackers, samplers = TrackerRegistry(), SamplerRegistry()
    by_plugin = {info.name: info for info in infos}
    for hook, registry, setter in (
        ("register_components", components, components.set_plugin),
        ("register_backends", backends, lambda p: setattr(backends, "current_plugin", p)),
        ("register_datasets", datasets, lambda p: setattr(datasets, "current_plugin", p)),
        ("register_commands", commands, lambda p: setattr(commands, "current_plugin", p)),
        ("register_trackers", trackers, lambda p: setattr(trackers, "current_plugin", p)),
        ("register_samplers", samplers, lambda p: setattr(samplers, "current_plugin", p)),
    ):
        for plugin_name, names in _call_each(pm, hook, registry, setter, by_plugin).items():
            info = by_plugin.get(plugin_name)
            if info is not None:
                for entry in names:
                    kind, name = entry.split(" ", 1)
                    info.provides.setdefault(kind, []).append(name)
    return Registries(components, backends, datasets, commands, infos, trackers, samplers)


@lru_cache(maxsize=1)
def registries() -> Registries:
    """The process-wide registries, loaded once."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PluginLoadWarning)
        result = build_registries()
    for w in caught:  # re-emit outside the cache so every caller's filter applies once
        warnings.warn(w.message, w.category, stacklevel=2)
    return result
