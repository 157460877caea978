"""Planning a sweep and reading the store import no TensorFlow (issue 14, item 10: memory at scale).

The built-in components declare their parameters in modules of their own (``params=`` of
``registry.layer``); planning reads those, and a class is loaded only to build a model.
"""

from __future__ import annotations

import json
import subprocess
import sys

from msc_neuro_cli.plugin_system.manager import build_registries
from msc_neuro_cli.plugin_system.registry import PROBE
from msc_neuro_cli.testing import TINY_MANIFEST, write_tiny_dataset

# Runs CLI commands in one process, then prints which TensorFlow/Keras modules got imported.
PROBE_SCRIPT = """
import json, sys
from msc_neuro_cli.cli import main
for argv in ({commands}):
    try:
        main(list(argv))
    except SystemExit as exc:
        assert not exc.code, (argv, exc.code)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras"))))
"""


def test_dry_run_and_status_import_no_tensorflow(tmp_path):
    data = write_tiny_dataset(tmp_path / "data")
    (tmp_path / "experiments.yaml").write_text(TINY_MANIFEST.format(data=data))
    commands = '["run", "tiny", "--dry-run"], ["status"], ["status", "--json"]'
    proc = subprocess.run([sys.executable, "-c", PROBE_SCRIPT.format(commands=commands)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "hsm_h0.5" in proc.stdout  # the plan was printed
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_declared_parameters_are_the_classes_parameters():
    """A declaration (read when planning) and the class (used when building) cannot drift apart:
    the class's PARAMS is the declared mapping itself. Every built-in component declares one."""
    components = build_registries().components
    checked = 0
    for name in components.layers.names():
        declared, regularized = components.declaration(name)
        if regularized == PROBE:
            continue  # a third-party component without a declaration (none is built in)
        cls = components.layers.get(name)
        assert cls.PARAMS is declared, name
        checked += 1
    assert checked >= 12


def test_a_component_without_a_declaration_is_still_checked_by_building_it():
    from msc_neuro_cli.plugin_system.registry import ComponentRegistry

    registry = ComponentRegistry()
    registry.layer("plain", "neuro_dense.normal:Dense")  # no params=: the class is loaded to read them
    params, regularized = registry.declaration("plain")
    assert regularized == PROBE and "units" in params
