"""``neuro run EXP -o training.epochs=2 -o model.1.units=0.4N``: change any value of one experiment.

An override is a dotted path into the experiment (after ``defaults`` and ``extends`` are merged)
and a YAML value (read safely as the manifest reads it: ``2`` and ``1e-3`` are numbers, ``[1, 2]`` a list, ``0.4N`` a string).
Integer segments index lists (``model.1``); missing mapping keys are created. The edited
experiment is validated like the manifest, and a manifest error about an overridden key names
the override. The run's spec records the overrides and its hash covers what they changed, so an
overridden run is a different run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from msc_neuro_cli.errors import ManifestError
from msc_neuro_cli.spec.yamlsource import LocDict, LocList, load_value

_PATH = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")


@dataclass(frozen=True)
class Override:
    text: str                  # as given: "model.1.units=0.4N"
    path: tuple[str, ...]      # ("model", "1", "units")
    value: Any

    def error(self, message: str) -> ManifestError:
        return ManifestError(f"-o {self.text}: {message}")

    @property
    def manifest_key(self) -> str:
        """How manifest errors name the key: ``model[1].units``."""
        return "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in self.path).lstrip(".")


def parse_override(text: str) -> Override:
    path, sep, raw = text.partition("=")
    path = path.strip()
    if not sep or not _PATH.match(path):
        raise ManifestError(f"-o {text}: expected KEY.PATH=VALUE, e.g. training.epochs=2 or model.1.units=0.4N")
    try:
        value = load_value(raw) if raw.strip() else None
    except (yaml.YAMLError, ManifestError) as exc:
        raise ManifestError(f"-o {text}: the value is not YAML ({' '.join(str(exc).split())})") from None
    if value is None:
        raise ManifestError(f"-o {text}: give a value after '=' (null is not a manifest value)")
    return Override(text, tuple(path.split(".")), value)


def _copy(container: Any) -> Any:
    """A shallow copy keeping the source lines (the containers on a path are shared with defaults)."""
    copied = LocDict(container) if isinstance(container, dict) else LocList(container)
    copied.line, copied.lines = getattr(container, "line", 0), type(getattr(container, "lines", {}))(
        getattr(container, "lines", {}))
    return copied


def apply_overrides(experiment: dict, overrides: list[Override]) -> dict:
    """A copy of the merged experiment mapping with every override set (the input is not changed)."""
    result = _copy(experiment)
    for override in overrides:
        node = result
        for depth, segment in enumerate(override.path):
            last = depth == len(override.path) - 1
            here = ".".join(override.path[:depth]) or "the experiment"
            if isinstance(node, list):
                if not segment.isdigit() or int(segment) >= len(node):
                    raise override.error(f"{here} is a list of {len(node)} entries: {segment!r} is not an index of it")
                key: Any = int(segment)
            elif isinstance(node, dict):
                key = segment
            else:
                raise override.error(f"{here} is {node!r}, not a mapping or list")
            if last:
                node[key] = override.value
            else:
                child = node.get(key, LocDict()) if isinstance(node, dict) else node[key]
                if isinstance(child, (dict, list)):
                    child = _copy(child)
                node[key] = child
                node = child
    return result


def explain(error: ManifestError, overrides: list[Override]) -> ManifestError:
    """Name the override in a manifest error about a key it set (or a key inside it)."""
    message = str(error)
    for override in overrides:
        if f".{override.manifest_key}" in message:
            return type(error)(f"{message} (set by -o {override.text})")
    return error
