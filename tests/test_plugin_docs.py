"""docs/plugins.md's worked example, taken from the docs as written: installed as a plugin package,
validated, built, trained with the replicated trainer, and its parameter checks enforced."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"

SCRIPT = '''
import numpy as np
import pytest

from msc_neuro_cli.api.testing import assert_export_roundtrip, assert_replicas_independent, build, smoke_train
from msc_neuro_cli.errors import ManifestError

model = [{"component": "my_readout", "units": "N", "gain": 2, "regularizers": {"l2": 0.01},
          "activation": "softplus"}]
x = np.random.default_rng(0).normal(size=(5, 9)).astype("float32")
assert_replicas_independent(model, (3, 3, 1), 4, x)
layers = build(model, (3, 3, 1), 4, [0, 1])
assert layers[0].params["units"] == 4 and layers[0].params["gain"] == 2.0
assert_export_roundtrip(layers, x, __import__("pathlib").Path(__import__("sys").argv[1]))
trainer, summaries = smoke_train(model, (3, 3, 1), 4, epochs=3)
assert [s.epoch for s in summaries] == [0, 1, 2] and all(np.isfinite(s.loss).all() for s in summaries)
assert float(np.max(np.abs(trainer.layers[0].weight("kernel").numpy() - layers[0].weight("kernel").numpy()))) > 0
for bad, message in (({"gain": 11.0}, "at most"), ({"init": "ones"}, "one of"), ({"window": 2}, "must be odd")):
    with pytest.raises(ManifestError, match=message):
        build([{**model[0], **bad}], (3, 3, 1), 4, [0])
print("docs example ok")
'''


def _block(marker: str) -> str:
    text = DOCS.read_text()
    found = re.search(r"```(?:python|toml)\n" + re.escape(marker) + r"\n(.*?)```", text, re.S)
    assert found, f"docs/plugins.md has no python block starting {marker!r}"
    return found.group(1)


def test_the_docs_component_example_builds_and_trains(tmp_path):
    site = tmp_path / "site"
    package = site / "neuro_myreadout"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(_block("# neuro_myreadout/__init__.py"))
    (package / "layer.py").write_text(_block("# neuro_myreadout/layer.py"))
    info = site / "neuro_myreadout-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: neuro-myreadout\nVersion: 0.1.0\n")
    entry = _block("# pyproject.toml").split('[project.entry-points."neuro.plugins"]')[1].replace('"', "")
    (info / "entry_points.txt").write_text("[neuro.plugins]" + entry)  # TOML's quoted value, unquoted
    script = tmp_path / "check.py"
    script.write_text(SCRIPT)
    proc = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "PYTHONPATH": str(site), "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert "docs example ok" in proc.stdout
