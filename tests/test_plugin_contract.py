"""The plugin contract: a broken plugin (import error, misspelled hook, a hook that raises) is one
warning naming it, and every other command works; Keras classes never shadow across plugins."""

from __future__ import annotations

import json

import pytest

from msc_neuro_cli.testing import TINY_MANIFEST, make_plugin_dist, neuro

BROKEN = {
    "import": ("raise ImportError('needs libfoo')\n", "needs libfoo"),
    "misspelled": ("""
        from msc_neuro_cli import hookimpl

        @hookimpl
        def register_component(registry):
            registry.layer("never", object)
        """, "register_component, which is not a neuro hook"),
    "raising": ("""
        from msc_neuro_cli import hookimpl

        @hookimpl
        def register_components(registry):
            raise RuntimeError("half-installed")
        """, "register_components hook raised RuntimeError: half-installed"),
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_broken_plugin_is_one_warning_and_every_command_works(tmp_path, kind):
    source, reason = BROKEN[kind]
    site = tmp_path / "site"
    make_plugin_dist(site, "neuro-broken", "neuro_broken", source)
    (tmp_path / "experiments.yaml").write_text(TINY_MANIFEST.format(data=tmp_path / "data"))
    env = {"PYTHONPATH": str(site), "COLUMNS": "250"}
    for args in (("experiments",), ("status",), ("plugins", "--json")):
        proc = neuro(*args, cwd=tmp_path, env=env)
        assert proc.returncode == 0, (args, proc.stderr)
        warning = [line for line in proc.stderr.splitlines() if "neuro-broken" in line]
        assert len(warning) == 1 and reason in warning[0], proc.stderr
        assert "Traceback" not in proc.stderr
    listed = {p["name"]: p for p in json.loads(proc.stdout)}
    assert reason in listed["neuro-broken"]["error"]
    assert "diff_of_gaussians" in listed["frontends"]["provides"]["component"]
