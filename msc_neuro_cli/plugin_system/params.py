"""Declared hyperparameters of plugins (components, datasets, backends) and their validation.

A plugin declares ``PARAMS = {"units": Param(int, ...), ...}``; the manifest checks every value a
user writes against that declaration, so a typo or a wrong type is reported with its file and line
before anything trains.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

_MISSING = object()

TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
              list: "a list", dict: "a mapping"}


@dataclass(frozen=True)
class Param:
    """One hyperparameter: its type(s), default, allowed values and a short help text."""

    types: type | tuple[type, ...]
    default: Any = _MISSING
    help: str = ""
    choices: tuple | None = None
    minimum: float | None = None
    maximum: float | None = None
    check: Callable[[Any], str | None] | None = field(default=None, compare=False)

    @property
    def required(self) -> bool:
        return self.default is _MISSING

    def describe_type(self) -> str:
        types = self.types if isinstance(self.types, tuple) else (self.types,)
        return " or ".join(TYPE_NAMES.get(t, t.__name__) for t in types)

    def coerce(self, value: Any) -> Any:
        """Return the value in its declared type, or raise ValueError with a short reason."""
        types = self.types if isinstance(self.types, tuple) else (self.types,)
        if value is None and None in (self.default,) and not self.required:
            return None
        ok = False
        for t in types:
            if t is float and isinstance(value, (int, float)) and not isinstance(value, bool):
                value, ok = float(value), True
                break
            if t is int and isinstance(value, bool):
                continue
            if isinstance(value, t):
                ok = True
                break
        if not ok:
            raise ValueError(f"expected {self.describe_type()}, got {value!r}")
        if self.choices is not None and value not in self.choices:
            raise ValueError(f"expected one of {', '.join(map(str, self.choices))}, got {value!r}")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if self.minimum is not None and value < self.minimum:
                raise ValueError(f"must be at least {self.minimum}, got {value!r}")
            if self.maximum is not None and value > self.maximum:
                raise ValueError(f"must be at most {self.maximum}, got {value!r}")
        if self.check is not None:
            problem = self.check(value)
            if problem:
                raise ValueError(problem)
        return value


def resolve_params(declared: Mapping[str, Param], given: Mapping[str, Any],
                   where: Callable[[str | None], str]) -> dict[str, Any]:
    """Validate ``given`` against ``declared``; fill defaults. ``where(key)`` names the place.

    Raises ValueError whose message already carries the place (file:line: key).
    """
    unknown = sorted(set(given) - set(declared))
    if unknown:
        known = ", ".join(sorted(declared)) or "none"
        raise ValueError(f"{where(unknown[0])}: unknown key {unknown[0]!r} (known: {known})")
    out: dict[str, Any] = {}
    for key, spec in declared.items():
        if key in given:
            try:
                out[key] = spec.coerce(given[key])
            except ValueError as exc:
                raise ValueError(f"{where(key)}: {exc}") from None
        elif spec.required:
            raise ValueError(f"{where(None)}: missing required key {key!r}")
        else:
            out[key] = spec.default
    return out


# Keys every model component accepts (declared here, not in engine.component, so that validating
# a manifest does not import TensorFlow).
COMMON_PARAMS: dict[str, Param] = {
    "activation": Param(str, "lin", "output nonlinearity (an activation plugin name)"),
    "regularizers": Param(dict, None, "mapping regularizer name -> strength, e.g. {l2: 0.1}"),
}
