"""Backend profiles: named resource settings (``{backend: qsub, cores: 4, memory: 8G}``).

Looked up by ``neuro run --backend NAME`` in this order: the manifest's ``profiles:``, the user's
profile file (``$NEURO_PROFILES``, default ``~/.config/neuro/profiles.yaml``, a mapping of name ->
settings), then the defaults plugins register (``qsub-cpu``, ``slurm-gpu``, ``docker``...). A
plain backend name works too. ``--set KEY=VALUE`` overrides single keys on the command line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from msc_neuro_cli.errors import BackendError, ManifestError, NeuroError
from msc_neuro_cli.spec.yamlsource import load


def user_profiles_path() -> Path:
    return Path(os.environ.get("NEURO_PROFILES", "~/.config/neuro/profiles.yaml")).expanduser()


def _user_profiles() -> dict[str, Any]:
    path = user_profiles_path()
    if not path.exists():
        return {}
    data = load(path) or {}
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ManifestError(f"{path}: expected a mapping of profile name -> settings")
    return data


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """``["cores=2", "queue=long.q"]`` -> ``{"cores": 2, "queue": "long.q"}`` (values read as YAML scalars)."""
    overrides = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise NeuroError(f"--set {item!r}: expected KEY=VALUE")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        if isinstance(value, (dict, list)) and not raw.strip().startswith(("[", "{")):
            value = raw
        overrides[key.strip()] = value
    return overrides


def resolve_backend(name: str, manifest, regs, overrides: dict[str, Any] | None = None):
    """A backend or profile name (+ overrides) -> a configured backend instance; the backend
    resolves the profile (once) and the run's state records it (runs/lifecycle.py)."""
    sources = [(f"{manifest.path}: profiles.{name}", manifest.profiles),
               (f"{user_profiles_path()}: {name}", _user_profiles()),
               (f"profile {name!r}", regs.backends.profiles)]
    where, profile, backend_name = f"backend {name!r}", {}, name
    for label, table in sources:
        if name in table:
            where, profile = label, dict(table[name] or {})
            backend_name = profile.pop("backend", None)
            if not backend_name:
                raise ManifestError(f"{label}: missing key 'backend'")
            break
    try:
        cls = regs.backends.get(backend_name)
    except NeuroError as exc:
        known = sorted(set(manifest.profiles) | set(_user_profiles()) | set(regs.backends.profiles))
        raise BackendError(f"{exc}; profiles: {', '.join(known) or 'none'}") from None
    profile.update(overrides or {})
    backend = cls(name, profile, where=lambda key: where + (
        f".{key}" + (" (--set)" if key in (overrides or {}) else "") if key else ""))
    backend.plugin_name = backend_name
    return backend
