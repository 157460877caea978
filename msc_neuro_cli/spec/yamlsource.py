"""Safe YAML loading that remembers where every key and item came from (file and line).

Mappings load as :class:`LocDict` and sequences as :class:`LocList`; both carry ``.line`` and
per-key/per-item lines so errors can say ``experiments.yaml:12: experiments.demo.training``.
Duplicate keys are an error (plain PyYAML silently keeps the last one).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from msc_neuro_cli.errors import ManifestError


class LocDict(dict):
    line: int = 0
    lines: dict

    def line_of(self, key) -> int:
        return getattr(self, "lines", {}).get(key, self.line)


class LocList(list):
    line: int = 0
    lines: list

    def line_of(self, index: int) -> int:
        lines = getattr(self, "lines", [])
        return lines[index] if index < len(lines) else self.line


class _Loader(yaml.SafeLoader):
    pass


# YAML 1.1 (PyYAML) reads 1e-3 and 1.0e6 as strings; read them as numbers, as YAML 1.2 does.
_Loader.yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LocDict:
    seen: dict[str, int] = {}
    for key_node, _ in node.value:  # duplicates among the keys written here (merged ones may be overridden)
        if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
            line = key_node.start_mark.line + 1
            if key_node.value in seen:
                raise ManifestError(f"{loader.name}:{line}: duplicate key {key_node.value!r} "
                                    f"(first at line {seen[key_node.value]})")
            seen[key_node.value] = line
    loader.flatten_mapping(node)  # resolves YAML merge keys (<<: *anchor)
    result = LocDict()
    result.line, result.lines = node.start_mark.line + 1, {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, (str, int, float, bool)):
            raise ManifestError(f"{loader.name}:{key_node.start_mark.line + 1}: mapping keys must be plain values")
        result[key] = loader.construct_object(value_node, deep=True)
        result.lines[key] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LocList:
    result = LocList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.lines = [child.start_mark.line + 1 for child in node.value]
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load(path: Path) -> Any:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(f"{path}: manifest not found (pass --manifest PATH)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: cannot read manifest: {exc}") from None
    try:
        loader = _Loader(text)  # the reader refuses control characters here already
    except yaml.YAMLError as exc:
        raise ManifestError(f"{path}: not a YAML text file ({_one_line(exc)})") from None
    loader.name = str(path)
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise ManifestError(f"{path}{line}: malformed YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ManifestError(f"{path}: malformed YAML: {_one_line(exc)}") from None
    finally:
        loader.dispose()


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def merge(base: Any, override: Any) -> Any:
    """Deep merge for defaults/extends: mappings merge key by key, anything else is replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        result = LocDict(base)
        result.line = getattr(override, "line", getattr(base, "line", 0))
        result.lines = {**getattr(base, "lines", {}), **getattr(override, "lines", {})}
        for key, value in override.items():
            result[key] = merge(base[key], value) if key in base else value
        return result
    return override


def load_value(text: str) -> Any:
    """One YAML value read as the manifest reads it (safe; ``1e-3`` is a number)."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 (_Loader is a SafeLoader)
