"""Typed registries that plugins fill through the hooks in :mod:`msc_neuro_cli.plugin_system.hookspecs`.

Each registered name remembers which plugin registered it, so ``neuro plugins`` can list what
every plugin provides and a name registered twice is an error naming both plugins.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterator, TypeVar

from msc_neuro_cli.errors import RegistryError

T = TypeVar("T")

_REFERENCE = re.compile(r"^([A-Za-z_][\w.]*):([A-Za-z_]\w*)(?:\[([\w.-]+)\])?$")


class Lazy:
    """A registered object given by reference, ``"module:attr"`` or ``"module:MAPPING[key]"``.

    Plugins register heavy objects (TensorFlow layers) this way so that commands which never
    build a model (status, export, plugins) start without importing TensorFlow.
    """

    def __init__(self, reference: str):
        match = _REFERENCE.match(reference)
        if not match:
            raise RegistryError(f"bad plugin reference {reference!r} (expected 'module:attr' or 'module:MAP[key]')")
        self.module, self.attr, self.key = match.groups()
        self.reference = reference

    def load(self) -> Any:
        obj = getattr(importlib.import_module(self.module), self.attr)
        return obj[self.key] if self.key is not None else obj


@dataclass
class Entry(Generic[T]):
    name: str
    target: Any  # the object, or a Lazy reference until first use
    plugin: str
    before_load: Callable[[], None] | None = None
    after_load: Callable[[Any, str], None] | None = None  # told every object (and its plugin) once loaded

    @property
    def obj(self) -> T:
        if isinstance(self.target, Lazy):
            if self.before_load is not None:
                self.before_load()
            try:
                self.target = self.target.load()
            except Exception as exc:  # a broken plugin: name it, do not crash with a traceback
                raise RegistryError(f"{self.name!r} of plugin {self.plugin!r} ({self.target.reference}) "
                                    f"failed to load: {type(exc).__name__}: {exc}") from None
            if self.after_load is not None:
                self.after_load(self.target, self.plugin)
        return self.target


class Registry(Generic[T]):
    """Names -> objects of one kind (``kind`` is used in messages, e.g. "component")."""

    def __init__(self, kind: str, before_load: Callable[[], None] | None = None,
                 after_load: Callable[[Any, str], None] | None = None):
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}
        self.current_plugin = "<unknown>"  # set by the plugin manager around each hook call
        self._before_load = before_load
        self._after_load = after_load

    def add(self, name: str, obj: T | str) -> T | str:
        """Register ``obj`` (or a ``"module:attr"`` reference loaded on first use) as ``name``."""
        if not isinstance(name, str) or not name:
            raise RegistryError(f"plugin {self.current_plugin!r} registered a {self.kind} with an empty name")
        if name in self._entries:
            first = self._entries[name].plugin
            raise RegistryError(
                f"{self.kind} {name!r} is registered by two plugins: {first!r} and {self.current_plugin!r}")
        target = Lazy(obj) if isinstance(obj, str) and self.kind != "command" else obj
        self._entries[name] = Entry(name, target, self.current_plugin, self._before_load, self._after_load)
        if self._after_load is not None and not isinstance(target, Lazy):
            self._after_load(target, self.current_plugin)
        return obj

    def get(self, name: str) -> T:
        self.require(name)
        return self._entries[name].obj

    def require(self, name: str) -> None:
        """Raise the unknown-name error unless ``name`` is registered (loads nothing)."""
        if name not in self._entries:
            known = ", ".join(sorted(self._entries)) or "none installed"
            raise RegistryError(f"unknown {self.kind} {name!r} (available: {known})")

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> Iterator[Entry[T]]:
        return iter(self._entries.values())


PROBE = "probe"  # a component without declared parameters: build it to see what it regularises


class ComponentRegistry:
    """Model components handed to ``register_components``.

    - ``layer(name, cls, params=None, regularized=None)``: a
      :class:`msc_neuro_cli.api.layers.ReplicatedLayer` subclass. ``params``, a ``"module:NAME"``
      reference to the class's ``PARAMS`` in a module that does not import TensorFlow, lets
      planning validate a manifest without loading the class; ``regularized`` then names the
      regularizers that act on some weight (None: all it accepts; ``()``: none).
    - ``activation(name, fn)``: ``fn(tensor) -> tensor``.
    - ``regularizer(name, fn)``: ``fn(weights, strength) -> per-replica penalty``; weights are laid
      out as ``(replicas, y, x, channels, units)``.
    - ``loss(name, fn)``: ``fn(y_true, y_pred, row_mask, neuron_mean) -> per-replica loss``.
    - ``initializer(name, fn)``: ``fn(rng, shape) -> numpy array`` for one replica.

    A layer class this registry loads is told so (``home_registry``, when it declares one and has
    none yet): a layer Keras rebuilds from a saved file resolves its activation and regularizer
    names there, without a process-wide lookup. It is also registered for Keras serialisation
    under its own plugin's package (``PLUGIN>Class``, :mod:`msc_neuro_cli.engine.keras_names`).
    """

    def __init__(self):
        from msc_neuro_cli.tfquiet import import_tensorflow  # components need TensorFlow: import it quietly first

        self.layers: Registry[type] = Registry("component", import_tensorflow, self._adopt)
        self.activations: Registry[Callable] = Registry("activation", import_tensorflow)
        self.regularizers: Registry[Callable] = Registry("regularizer", import_tensorflow)
        self.losses: Registry[Callable] = Registry("loss", import_tensorflow)
        self.initializers: Registry[Callable] = Registry("initializer", import_tensorflow)
        self._declared: dict[str, tuple[Any, tuple[str, ...] | None]] = {}

    def all(self) -> dict[str, Registry]:
        return {"component": self.layers, "activation": self.activations,
                "regularizer": self.regularizers, "loss": self.losses,
                "initializer": self.initializers}

    def _adopt(self, cls: Any, plugin: str) -> None:
        if isinstance(cls, type) and hasattr(cls, "home_registry") and vars(cls).get("home_registry") is None:
            cls.home_registry = self
        if isinstance(cls, type) and hasattr(cls, "get_config"):
            from msc_neuro_cli.engine.keras_names import register_class
            register_class(cls, plugin)

    def set_plugin(self, plugin: str) -> None:
        for registry in self.all().values():
            registry.current_plugin = plugin

    def layer(self, name: str, cls: type, params: str | dict | None = None,
              regularized: tuple[str, ...] | None = None) -> type:
        self.layers.add(name, cls)
        if params is not None:
            self._declared[name] = (Lazy(params) if isinstance(params, str) else params, regularized)
        return cls

    def declaration(self, name: str) -> tuple[dict, tuple[str, ...] | str | None]:
        """A component's ``PARAMS`` and the regularizers that act on its weights: read from its
        declaration when its plugin gave one (no TensorFlow), else from the loaded class with
        :data:`PROBE` (build the component to find out)."""
        self.layers.require(name)
        if name not in self._declared:
            return self.layers.get(name).PARAMS, PROBE
        params, regularized = self._declared[name]
        if isinstance(params, Lazy):
            try:
                params = params.load()
            except Exception as exc:  # a broken plugin: name it, do not crash with a traceback
                raise RegistryError(f"parameters of component {name!r} ({params.reference}) failed to load: "
                                    f"{type(exc).__name__}: {exc}") from None
            self._declared[name] = (params, regularized)
        return params, regularized

    def activation(self, name: str, fn: Callable) -> Callable:
        return self.activations.add(name, fn)

    def regularizer(self, name: str, fn: Callable) -> Callable:
        return self.regularizers.add(name, fn)

    def loss(self, name: str, fn: Callable) -> Callable:
        return self.losses.add(name, fn)

    def initializer(self, name: str, fn: Callable) -> Callable:
        return self.initializers.add(name, fn)


class BackendRegistry(Registry[type]):
    """Execution backends: ``add(name, cls)`` with a :class:`msc_neuro_cli.api.Backend` subclass,
    and ``add_profile(name, settings)`` for named resource profiles (``{"backend": "qsub", ...}``)
    that ``neuro run --backend NAME`` accepts like the manifest's ``profiles:``."""

    def __init__(self):
        super().__init__("backend")
        self.profiles: dict[str, dict[str, Any]] = {}
        self._profile_plugins: dict[str, str] = {}

    def add_profile(self, name: str, settings: dict[str, Any]) -> None:
        if "backend" not in settings:
            raise RegistryError(f"plugin {self.current_plugin!r}: profile {name!r} needs a 'backend' key")
        if name in self.profiles:
            raise RegistryError(f"backend profile {name!r} is registered by two plugins: "
                                f"{self._profile_plugins[name]!r} and {self.current_plugin!r}")
        self.profiles[name] = dict(settings)
        self._profile_plugins[name] = self.current_plugin


class DatasetRegistry(Registry[type]):
    """Datasets: ``add(name, cls)`` with a :class:`msc_neuro_cli.api.DatasetSource` subclass."""

    def __init__(self):
        super().__init__("dataset")


class TrackerRegistry(Registry[type]):
    """Experiment trackers: ``add(name, cls)`` with a :class:`msc_neuro_cli.api.Tracker`
    subclass (or a ``"module:Class"`` reference, loaded when a run first reports to it)."""

    def __init__(self):
        super().__init__("tracker")


class SamplerRegistry(Registry[type]):
    """Search samplers: ``add(name, cls)`` with a :class:`msc_neuro_cli.api.SearchSampler` subclass
    (or a ``"module:Class"`` reference, loaded when a search first asks it for a trial); the
    name is what a manifest's ``search.sampler`` gives."""

    def __init__(self):
        super().__init__("sampler")


@dataclass(frozen=True)
class CommandSpec:
    path: tuple[str, ...]  # ("data", "synth") for `neuro data synth`
    func: Callable[..., Any]
    help: str | None


class CommandRegistry(Registry[CommandSpec]):
    """CLI commands: ``add("data synth", func)`` adds ``neuro data synth``.

    ``func`` is a Typer command function (its parameters become options and arguments).
    Groups ("data") are created on first use; a command cannot replace a core command.
    """

    def __init__(self):
        super().__init__("command")

    def add(self, name: str, func: Callable[..., Any], help: str | None = None) -> CommandSpec:  # type: ignore[override]
        path = tuple(name.split())
        if not path:
            raise RegistryError(f"plugin {self.current_plugin!r} registered a command with an empty name")
        return super().add(" ".join(path), CommandSpec(path, func, help))
