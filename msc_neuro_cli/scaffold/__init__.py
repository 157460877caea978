"""``neuro plugin new NAME``: write a plugin package that installs and passes its own tests."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from msc_neuro_cli.errors import NeuroError

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
# template file -> where it goes in the new package ({package} is filled in)
_LAYOUT = {
    "component": {"pyproject.toml.tmpl": "pyproject.toml", "README.md.tmpl": "README.md",
                  "__init__.py.tmpl": "{package}/__init__.py", "params.py.tmpl": "{package}/params.py",
                  "layer.py.tmpl": "{package}/layer.py", "test_plugin.py.tmpl": "tests/test_{name}.py"},
    "dataset": {"pyproject.toml.tmpl": "pyproject.toml", "README.md.tmpl": "README.md",
                "__init__.py.tmpl": "{package}/__init__.py", "source.py.tmpl": "{package}/source.py",
                "test_plugin.py.tmpl": "tests/test_{name}.py"},
    "backend": {"pyproject.toml.tmpl": "pyproject.toml", "README.md.tmpl": "README.md",
                "__init__.py.tmpl": "{package}/__init__.py", "backend.py.tmpl": "{package}/backend.py",
                "test_plugin.py.tmpl": "tests/test_{name}.py"},
}
KINDS = tuple(_LAYOUT)


def new_plugin(name: str, kind: str = "component", dest: Path = Path(".")) -> Path:
    """Write ``neuro-NAME/`` under ``dest``; returns its folder. Refuses to overwrite anything."""
    if not _NAME.match(name):
        raise NeuroError(f"plugin name {name!r}: use lowercase letters, digits and _ (e.g. divnorm)")
    if kind not in _LAYOUT:
        raise NeuroError(f"--kind {kind!r}: available kinds are {', '.join(_LAYOUT)}")
    values = {"name": name, "package": f"neuro_{name}", "dist": f"neuro-{name.replace('_', '-')}",
              "cls": "".join(part.capitalize() for part in name.split("_"))}
    root = Path(dest) / values["dist"]
    if root.exists():
        raise NeuroError(f"{root} already exists; choose another --dest or name")
    templates = resources.files(__package__) / "templates" / kind
    for template, target in _LAYOUT[kind].items():
        path = root / target.format(**values)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(templates.joinpath(template).read_text().format(**values))
    return root
