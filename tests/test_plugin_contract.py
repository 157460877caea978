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


CONV_PLUGIN = '''
    from msc_neuro_cli.api import hookimpl

    @hookimpl
    def register_components(registry):
        registry.layer("{component}", "{module}_layer:Conv")
'''

CONV_LAYER = '''
    import keras
    import tensorflow as tf

    from msc_neuro_cli.api import Param
    from msc_neuro_cli.api.layers import ReplicatedLayer


    @keras.saving.register_keras_serializable(package="neuro")  # what the docs once said: shared
    class Conv(ReplicatedLayer):
        PARAMS = {{"units": Param((int, str), default="N")}}
        SCALE = {scale}

        def weight_shapes(self):
            return {{"kernel": (self.in_features, self.params["units"])}}

        def initial_value(self, name, rng):
            return rng.normal(0, 0.1, self.weight_shapes()[name])

        def output_dims(self):
            return (1, 1, self.params["units"])

        def forward(self, x, training):
            return self.SCALE * tf.matmul(x, self.weight("kernel"))
'''

ROUNDTRIP = '''
import sys
from pathlib import Path

import numpy as np

from msc_neuro_cli.api import load_model
from msc_neuro_cli.api.layers import export_replica
from msc_neuro_cli.api.testing import build

out = Path(sys.argv[1])
for component in ("conv_a", "conv_b"):
    layers = build([{"component": component, "units": 2}], (2, 2, 1), 2, [0])
    export_replica(layers, 0).save(out / f"{component}.keras")
for component in ("conv_a", "conv_b"):
    model = load_model(out / f"{component}.keras")
    conv = [layer for layer in model.layers if type(layer).__name__ == "Conv"][0]
    print(component, type(conv).__module__, type(conv).SCALE)

# a model saved before per-plugin names (built-in classes as "neuro>Class") still loads
import zipfile
layers = build([{"component": "normal", "units": 2}], (2, 2, 1), 2, [0])
export_replica(layers, 0).save(out / "new.keras")
with zipfile.ZipFile(out / "new.keras") as src, zipfile.ZipFile(out / "old.keras", "w") as dst:
    for item in src.infolist():
        data = src.read(item)
        if item.filename == "config.json":
            assert b'"dense>' in data, data
            data = data.replace(b'"dense>', b'"neuro>')
        dst.writestr(item, data)
old = load_model(out / "old.keras")
print("old", [type(layer).__module__ for layer in old.layers if type(layer).__name__ == "Dense"])
'''


def test_two_plugins_with_a_class_of_the_same_name_each_load_their_own(tmp_path):
    import subprocess
    import sys
    import textwrap

    site = tmp_path / "site"
    for letter, scale in (("a", 2.0), ("b", 3.0)):
        module = f"neuro_conv_{letter}"
        make_plugin_dist(site, f"neuro-conv-{letter}", module,
                         CONV_PLUGIN.format(component=f"conv_{letter}", module=module))
        (site / f"{module}_layer.py").write_text(textwrap.dedent(CONV_LAYER.format(scale=scale)))
    script = tmp_path / "roundtrip.py"
    script.write_text(ROUNDTRIP)
    proc = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True,
                          env={**__import__("os").environ, "PYTHONPATH": str(site), "TF_CPP_MIN_LOG_LEVEL": "2"},
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:2] == ["conv_a neuro_conv_a_layer 2.0", "conv_b neuro_conv_b_layer 3.0"], proc.stdout
    assert lines[2] == "old ['neuro_dense.normal']", proc.stdout


def test_a_regularizer_the_component_cannot_apply_is_refused_at_dry_run(tmp_path):
    from msc_neuro_cli.testing import write_tiny_dataset

    data = write_tiny_dataset(tmp_path / "data")
    text = TINY_MANIFEST.format(data=data).replace(
        "{component: diff_of_gaussians, units: 3}", "{component: diff_of_gaussians, units: 3, regularizers: {l2: 0.1}}")
    (tmp_path / "experiments.yaml").write_text(text)
    proc = neuro("run", "tiny", "--dry-run", cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    message = proc.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert "experiments.yaml:" in message and "tiny.model[0].regularizers.l2" in message, message
    assert "diff_of_gaussians" in message and "no weight this regularizer applies to" in message
    (tmp_path / "experiments.yaml").write_text(TINY_MANIFEST.format(data=data))
    ok = neuro("run", "tiny", "--dry-run", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
