"""Typed registries that plugins fill through the hooks in :mod:`msc_neuro_cli.hookspecs`.

Each registered name remembers which plugin registered it, so ``neuro plugins`` can list what
every plugin provides and a name registered twice is an error naming both plugins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterator, TypeVar

from .errors import RegistryError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    obj: T
    plugin: str


class Registry(Generic[T]):
    """Names -> objects of one kind (``kind`` is used in messages, e.g. "component")."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}
        self.current_plugin = "<unknown>"  # set by the plugin manager around each hook call

    def add(self, name: str, obj: T) -> T:
        if not isinstance(name, str) or not name:
            raise RegistryError(f"plugin {self.current_plugin!r} registered a {self.kind} with an empty name")
        if name in self._entries:
            first = self._entries[name].plugin
            raise RegistryError(
                f"{self.kind} {name!r} is registered by two plugins: {first!r} and {self.current_plugin!r}")
        self._entries[name] = Entry(name, obj, self.current_plugin)
        return obj

    def get(self, name: str) -> T:
        try:
            return self._entries[name].obj
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none installed"
            raise RegistryError(f"unknown {self.kind} {name!r} (available: {known})") from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> Iterator[Entry[T]]:
        return iter(self._entries.values())


class ComponentRegistry:
    """Model components handed to ``register_components``.

    - ``layer(name, cls)``: a :class:`msc_neuro_cli.engine.component.ReplicatedLayer` subclass.
    - ``activation(name, fn)``: ``fn(tensor) -> tensor``.
    - ``regularizer(name, fn)``: ``fn(weights, strength) -> per-replica penalty``; weights are laid
      out as ``(replicas, y, x, channels, units)``.
    - ``loss(name, fn)``: ``fn(y_true, y_pred, row_mask, neuron_mean) -> per-replica loss``.
    - ``initializer(name, fn)``: ``fn(rng, shape) -> numpy array`` for one replica.
    """

    def __init__(self):
        self.layers: Registry[type] = Registry("component")
        self.activations: Registry[Callable] = Registry("activation")
        self.regularizers: Registry[Callable] = Registry("regularizer")
        self.losses: Registry[Callable] = Registry("loss")
        self.initializers: Registry[Callable] = Registry("initializer")

    def all(self) -> dict[str, Registry]:
        return {"component": self.layers, "activation": self.activations,
                "regularizer": self.regularizers, "loss": self.losses,
                "initializer": self.initializers}

    def set_plugin(self, plugin: str) -> None:
        for registry in self.all().values():
            registry.current_plugin = plugin

    def layer(self, name: str, cls: type) -> type:
        return self.layers.add(name, cls)

    def activation(self, name: str, fn: Callable) -> Callable:
        return self.activations.add(name, fn)

    def regularizer(self, name: str, fn: Callable) -> Callable:
        return self.regularizers.add(name, fn)

    def loss(self, name: str, fn: Callable) -> Callable:
        return self.losses.add(name, fn)

    def initializer(self, name: str, fn: Callable) -> Callable:
        return self.initializers.add(name, fn)


class BackendRegistry(Registry[type]):
    """Execution backends: ``add(name, cls)`` with a :class:`msc_neuro_cli.backends.Backend` subclass."""

    def __init__(self):
        super().__init__("backend")


class DatasetRegistry(Registry[type]):
    """Datasets: ``add(name, cls)`` with a :class:`msc_neuro_cli.datasets.DatasetSource` subclass."""

    def __init__(self):
        super().__init__("dataset")


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
