"""A test kit for neuro and its plugins: tiny datasets, a tiny manifest, the real CLI.

Core tests import it directly; plugin packages get it through the plugin API's test kit
(``from msc_neuro_cli.api.testing import neuro``), so every test drives the same real command line
and the same data layout.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np


def write_tiny_dataset(root: Path, size: int = 9, n_train: int = 48, n_val: int = 10, repeats: int = 3,
                       neurons: int = 6, seed: int = 0) -> Path:
    """A small dataset in the published Antolik layout (``root/Data/region1/*.npy``).

    Responses come from a rectified linear model of the images plus Poisson noise, so models
    can learn something in a few epochs.
    """
    rng = np.random.default_rng(seed)
    region = root / "Data" / "region1"
    region.mkdir(parents=True, exist_ok=True)
    filters = rng.normal(size=(size * size, neurons))
    train_x = rng.random((n_train, size * size)) * 255e-6
    val_x = rng.random((n_val, size * size)) * 255e-6

    def rates(x):
        z = (x - 127e-6) / 73e-6
        return np.log1p(np.exp(z @ filters / size))

    np.save(region / "training_inputs.npy", train_x)
    np.save(region / "training_set.npy", rng.poisson(rates(train_x)).astype(np.float64))
    np.save(region / "validation_inputs.npy", val_x)
    raw = rng.poisson(rates(val_x)[None], size=(repeats, n_val, neurons)).astype(np.float64)
    np.save(region / "raw_validation_set.npy", raw)
    np.save(region / "validation_set.npy", raw.mean(axis=0))
    return root


TINY_MANIFEST = """\
version: 1
defaults:
  training: {{epochs: 6, batch_size: 16, learning_rate: 1.0e-3, summary_every: 3}}
experiments:
  tiny:
    folder: testfolder
    name: "hsm_h{{hidden}}"
    aliases: [t]
    dataset: {{name: antolik2016, path: {data}, regions: [1], preprocess: {{inputs: zscore}}}}
    model:
      - {{component: diff_of_gaussians, units: 3}}
      - {{component: normal, units: "${{hidden}}N", activation: softplus}}
      - {{component: normal, units: N, activation: softplus, regularizers: {{l2: 0.1}}}}
    grid: {{hidden: [0.5, 1.0]}}
    repetitions: 2
"""


def neuro(*args: str, cwd: Path, env: dict | None = None, timeout: float = 600,
          check: bool = False) -> subprocess.CompletedProcess:
    """Run the real CLI in a subprocess (``python -m msc_neuro_cli``)."""
    full_env = dict(os.environ, **(env or {}))
    proc = subprocess.run([sys.executable, "-m", "msc_neuro_cli", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"neuro {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def make_plugin_dist(site: Path, dist: str, module: str, source: str, entry: str | None = None) -> None:
    """Install a real (tiny) plugin distribution into ``site``: a module plus dist-info with an
    entry point in the ``neuro.plugins`` group, found by importlib.metadata like any package."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist.replace('-', '_')}-0.3.1.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.3.1\n")
    (info / "entry_points.txt").write_text(f"[neuro.plugins]\n{entry or dist} = {module}\n")


def wait_for(what: str, check, timeout: float = 120, every: float = 0.3):
    """Poll ``check()`` until it returns something truthy (returned) or fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)
    return value
