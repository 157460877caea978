"""Plugin loading through real entry points: listing, broken plugins, duplicate names, hook docs."""

from __future__ import annotations

from pathlib import Path

import inspect
import re

from msc_neuro_cli.testing import make_plugin_dist, neuro

from msc_neuro_cli.plugin_system import hookspecs

HOOKS = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("register_")]

REPO = Path(__file__).resolve().parents[1]


def test_every_hook_is_documented_and_tested():
    docs = (REPO / "docs" / "plugins.md").read_text()
    tests = (REPO / "tests" / "test_plugin_hooks.py").read_text()
    assert sorted(HOOKS) == ["register_backends", "register_commands", "register_components", "register_datasets",
                            "register_samplers", "register_trackers"]
    for hook in HOOKS:
        assert getattr(hookspecs, hook).__doc__.strip(), hook
        assert re.search(rf"^#+ .*`{hook}", docs, re.M), f"{hook} has no section in docs/plugins.md"
        assert f"def test_{hook}" in tests, f"{hook} has no test in tests/test_plugin_hooks.py"


def test_plugins_lists_builtins_with_versions(tmp_path):
    proc = neuro("plugins", cwd=tmp_path, env={"COLUMNS": "250"}, check=True)
    for name in ("basics", "frontends", "dense", "local", "datasets"):
        assert re.search(rf"{name}\s+│\s+0\.1\.0", proc.stdout), proc.stdout
    assert "diff_of_gaussians" in proc.stdout and "backend: local" in proc.stdout


def test_broken_plugin_is_named_and_others_still_work(tmp_path):
    site = tmp_path / "site"
    make_plugin_dist(site, "neuro-broken", "neuro_broken", "raise ImportError('needs libfoo')\n")
    proc = neuro("plugins", cwd=tmp_path, env={"PYTHONPATH": str(site), "COLUMNS": "250"})
    assert proc.returncode == 0, proc.stderr
    assert "neuro-broken" in proc.stderr and "needs libfoo" in proc.stderr
    assert "diff_of_gaussians" in proc.stdout


def test_duplicate_registration_names_both_plugins(tmp_path):
    site = tmp_path / "site"
    make_plugin_dist(site, "neuro-clash", "neuro_clash", """
        from msc_neuro_cli import hookimpl

        @hookimpl
        def register_components(registry):
            registry.layer("normal", object)
        """)
    proc = neuro("plugins", cwd=tmp_path, env={"PYTHONPATH": str(site)})
    assert proc.returncode == 2
    line = proc.stderr.strip()
    assert "component 'normal' is registered by two plugins" in line
    assert "'dense'" in line and "'neuro-clash'" in line
