"""The plugin API is the only core a plugin imports, and every name of it is documented."""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
API_MODULES = ("msc_neuro_cli.api", "msc_neuro_cli.api.layers", "msc_neuro_cli.api.testing")


def _plugins() -> dict[str, dict]:
    """Distribution name -> {dir, packages, dependencies, test dependencies} of every built-in plugin."""
    found = {}
    for pyproject in sorted(REPO.glob("plugins/*/pyproject.toml")):
        meta = tomllib.loads(pyproject.read_text())
        project = meta["project"]
        packages = meta.get("tool", {}).get("setuptools", {}).get("packages") or [project["name"].replace("-", "_")]
        found[project["name"]] = {
            "dir": pyproject.parent, "packages": {p.split(".")[0] for p in packages},
            "dependencies": {_dist(d) for d in project.get("dependencies", [])},
            "test_dependencies": {_dist(d) for d in project.get("optional-dependencies", {}).get("test", [])},
        }
    return found


def _dist(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, imported names) of every absolute import in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module, [alias.name for alias in node.names]))
    return found


def _problem(module: str, names: list[str], own: str, allowed: set[str], owner_of: dict[str, str]) -> str | None:
    top = module.split(".")[0]
    if top == "msc_neuro_cli":
        if module == "msc_neuro_cli.api" or module.startswith("msc_neuro_cli.api."):
            return None
        if module == "msc_neuro_cli" and names and set(names) <= {"api"}:
            return None
        return f"imports the core module {module} (plugins import msc_neuro_cli.api only)"
    dist = owner_of.get(top)
    if dist is not None and dist != own and dist not in allowed:
        return f"imports {module} of plugin {dist}, which is not a declared dependency"
    return None


def test_plugins_import_only_the_api_and_their_declared_dependencies():
    plugins = _plugins()
    owner_of = {package: dist for dist, info in plugins.items() for package in info["packages"]}
    problems = []
    for dist, info in plugins.items():
        for path in sorted(info["dir"].rglob("*.py")):
            if ".egg-info" in str(path) or "build" in path.relative_to(info["dir"]).parts:
                continue
            in_tests = "tests" in path.relative_to(info["dir"]).parts
            allowed = info["dependencies"] | (info["test_dependencies"] if in_tests else set())
            for line, module, names in _imports(path):
                problem = _problem(module, names, dist, allowed, owner_of)
                if problem:
                    problems.append(f"{path.relative_to(REPO)}:{line}: {problem}")
    assert not problems, "\n".join(problems)


def test_the_import_check_catches_core_and_undeclared_plugin_imports():
    owner_of = {"neuro_basics": "neuro-basics", "neuro_reports": "neuro-reports"}
    check = lambda module, names=(): _problem(module, list(names), "neuro-reports", {"msc-neuro-cli"}, owner_of)  # noqa: E731
    assert check("msc_neuro_cli.engine.trainer") and check("msc_neuro_cli", ["hookimpl"])
    assert check("neuro_basics.layer_ops")
    assert not check("msc_neuro_cli.api") and not check("msc_neuro_cli.api.layers") and not check("msc_neuro_cli", ["api"])
    assert not check("neuro_reports.loading") and not check("numpy")


@pytest.mark.parametrize("module_name", API_MODULES)
def test_every_api_name_exists_has_a_docstring_and_is_in_the_plugin_docs(module_name):
    module = importlib.import_module(module_name)
    docs = (REPO / "docs" / "plugins.md").read_text()
    assert module.__doc__ and module_name in docs
    for name in module.__all__:
        obj = getattr(module, name)  # an AttributeError names a stale entry
        if callable(obj) and not isinstance(obj, type(sys)):
            assert (obj.__doc__ or "").strip(), f"{module_name}.{name} has no docstring"
        assert f"`{name}`" in docs, f"{module_name}.{name} is not documented in docs/plugins.md"


def test_importing_the_api_and_its_test_kit_loads_no_tensorflow():
    code = ("import sys, msc_neuro_cli.api, msc_neuro_cli.api.testing; "
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_dataset_kit_checks_a_real_source_and_refuses_a_broken_one(tmp_path):
    import numpy as np

    from msc_neuro_cli.api import Dataset, DatasetError, DatasetSource, installed_registries
    from msc_neuro_cli.api.testing import check_dataset, write_tiny_dataset

    write_tiny_dataset(tmp_path)
    source = installed_registries().datasets.get("antolik2016")({"path": "Data", "regions": [1]}, tmp_path)
    data = check_dataset(source, {"inputs": "zscore"})
    raw = np.load(tmp_path / "Data" / "region1" / "training_inputs.npy")
    np.testing.assert_allclose(data.train_x, (raw - raw.mean()) / raw.std(), rtol=1e-4, atol=1e-5)

    class Broken(DatasetSource):
        def load(self):
            x = np.ones((4, 9), np.float32)
            y = np.full((4, 2), np.nan, np.float32)
            return Dataset(x, y, x, y, (3, 3, 1))

    with pytest.raises(DatasetError):
        check_dataset(Broken({}, tmp_path))
