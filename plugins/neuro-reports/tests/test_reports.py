"""neuro report / compare / tensorboard / export-* on runs of tiny real experiments.

One module-scoped store: a two-region HSM with a two-axis grid (3 runs x 3 repetitions) trained a
few epochs by the real CLI (`neuro run`, workers in subprocesses), plus one run in the thesis pipeline's own
layout (experiments.txt + TF1-style events) to compare against. The read-only commands are then
called in-process through the same Typer app (`msc_neuro_cli.cli.main`) to save TensorFlow imports;
`neuro tensorboard` runs as a real process.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[3]

_spec = importlib.util.spec_from_file_location("neuro_core_test_helpers", REPO / "tests" / "conftest.py")
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)

MANIFEST = """\
version: 1
defaults:
  training: {{epochs: 6, batch_size: 16, learning_rate: 1.0e-3, summary_every: 2, xla: false}}
experiments:
  multi:
    folder: rep
    name: "hsm_h{{hidden}}_lr{{lr}}"
    aliases: [mr]
    dataset: {{name: antolik2016, path: {data}, regions: [1, 2], preprocess: {{inputs: zscore}}}}
    model:
      - {{component: diff_of_gaussians, units: 4}}
      - {{component: normal, units: "${{hidden}}N", activation: softplus}}
      - {{component: normal, units: N, activation: softplus}}
    training: {{learning_rate: "${{lr}}"}}
    grid:
      - axes: {{hidden: [0.5], lr: [1.0e-3, 2.0e-2]}}
      - axes: {{hidden: [1.0], lr: [1.0e-3]}}
    repetitions: 3
"""
PNG = b"\x89PNG\r\n\x1a\n"


def _multi_region_data(root: Path) -> Path:
    """Region 1 (6 neurons, 3 repeats) and region 2 (4 neurons, 2 repeats) in the Antolik layout."""
    helpers.write_tiny_dataset(root, neurons=6, repeats=3, seed=0)
    other = helpers.write_tiny_dataset(root.parent / "region2src", neurons=4, repeats=2, seed=1)
    shutil.move(str(other / "Data" / "region1"), str(root / "Data" / "region2"))
    return root


def _seed_run(store: Path) -> None:
    """A finished run of the thesis pipeline itself: a ledger line and TF1-style event files."""
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    with open(store / "experiments.txt", "a") as ledger:
        ledger.write("experiments_old/bl4x0/baseline4\n")
    for rep, final in enumerate((0.30, 0.32, 0.31)):
        folder = store / f"logs/experiments_old/bl4x0/24-07_10-11-0{rep}_baseline4__{rep}/summaries/test"
        writer = EventFileWriter(str(folder))
        for step, value in ((0, 0.05), (2, 0.2), (5, final)):
            writer.add_event(Event(step=step, wall_time=100.0 + step, summary=Summary(
                value=[Summary.Value(tag="loss/correlation/correlation", simple_value=value)])))
        writer.close()


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("reports")
    data = _multi_region_data(base / "data")
    manifest = base / "experiments.yaml"
    manifest.write_text(MANIFEST.format(data=data))
    store = base / "training_data"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", NEURO_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "msc_neuro_cli", "run", "multi", "--jobs", "3", "--manifest",
                           str(manifest), "--store", str(store)], cwd=base, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    _seed_run(store)
    return store


class Result:
    def __init__(self, code: int, stdout: str, stderr: str):
        self.returncode, self.stdout, self.stderr = code, stdout, stderr


def cli(*args: str, env: dict | None = None) -> Result:
    """``neuro ARGS`` in this process (the real app with the plugins' commands mounted)."""
    import contextlib
    import io

    from msc_neuro_cli.api.testing import cli_main as main

    out, err = io.StringIO(), io.StringIO()
    old = {k: os.environ.get(k) for k in env or {}}
    os.environ.update(env or {})
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    return Result(code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def report_dir(store, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    proc = cli("report", "mr", "experiments_old/bl4x0", "--out", str(out), "--store", str(store),
               "--manifest", str(store.parent / "experiments.yaml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "wrote 6 figures" in proc.stdout, proc.stdout + proc.stderr
    assert "bl4: no noise-ceiling figure" in proc.stderr
    return out


EXPECTED_FIGURES = ["curves.png", "final.png", "hyperparameters_multi.png", "ceiling_multi.png",
                    "regions_multi.png", "filters_multi_00_diff_of_gaussians.png"]


def test_report_writes_every_figure_as_a_valid_png_embedded_in_the_page(report_dir):
    import base64
    import io

    from PIL import Image

    page = (report_dir / "index.html").read_text()
    embedded = {name: data for data, name in re.findall(r'<img src="data:image/png;base64,([^"]+)" alt="([^"]+)"', page)}
    assert sorted(embedded) == sorted(EXPECTED_FIGURES) == sorted(p.name for p in report_dir.glob("*.png"))
    for name, data in embedded.items():
        raw = (report_dir / name).read_bytes()
        assert raw[:8] == PNG and base64.b64decode(data) == raw, name
        with Image.open(io.BytesIO(raw)) as image:
            image.verify()
        with Image.open(io.BytesIO(raw)) as image:
            width, height = image.size
            pixels = np.asarray(image.convert("L"))
        assert 250 <= width <= 3000 and 150 <= height <= 3000, (name, image.size)
        assert pixels.std() > 5, f"{name} looks blank"
        assert f'href="{name}"' in page
    # the figure sizes follow their content: three grid panels would be wider than two
    with Image.open(report_dir / "hyperparameters_multi.png") as image:
        assert image.size[0] > 700


def test_report_page_has_tables_manifest_entries_and_provenance(report_dir, store):
    page = (report_dir / "index.html").read_text()
    for text in ("rep/multix0", "rep/multix1", "rep/multix2", "experiments_old/bl4x0",
                 "hsm_h0.5_lr0.02", "fraction of ceiling", "region1", "region2", "weighted",
                 "component: diff_of_gaussians", "varies [0.001, 0.02]", "Provenance", "tensorflow",
                 "dataset sha256", "HSM Antol"):
        assert text in page, text
    record = json.loads((store / "runs/rep/multix1/record.json").read_text())
    assert record["spec_hash"] in page
    median = np.median([r["val_correlation"] for r in record["repetitions"]])
    assert f"{median:.3f}" in page


def test_every_image_loads_in_headless_chromium(report_dir, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (Debian: apt-get install -y chromium)")
    check = tmp_path / "index.html"
    script = ("<script>window.addEventListener('load', function () {"
              "var imgs = Array.from(document.images);"
              "var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;"
              "var m = document.createElement('p'); m.id = 'image-check';"
              "m.textContent = 'IMAGES ' + ok + '/' + imgs.length; document.body.appendChild(m); });</script>")
    check.write_text((report_dir / "index.html").read_text().replace("</body>", script + "</body>"))
    proc = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                           "--disable-component-update", "--disable-sync", "--no-first-run",
                           f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000",
                           "--dump-dom", check.as_uri()], capture_output=True, text=True, timeout=120)
    match = re.search(r"IMAGES (\d+)/(\d+)", proc.stdout)
    assert match, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert match.group(1) == match.group(2) == str(len(EXPECTED_FIGURES))


def test_compare_tests_against_the_reference_and_includes_seed_runs(store):
    proc = cli("compare", "multi", "experiments_old/bl4x0", "--reference", "experiments_old/bl4x0",
               "--json", "--store", str(store))
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert len(rows) == 4 and rows[[r["run"] for r in rows].index("experiments_old/bl4x0")]["fraction_of_ceiling"] is None
    medians = [r["median"] for r in rows]
    assert medians == sorted(medians, reverse=True)
    ref = next(r for r in rows if r["ref"])
    assert ref["run"] == "experiments_old/bl4x0" and ref["median"] == pytest.approx(0.31, abs=1e-6)
    from scipy.stats import mannwhitneyu
    for row in rows:
        if row["ref"]:
            continue
        finals = [json.loads(p.read_text())["val_correlation"]
                  for p in (store / "runs" / row["run"] / "reps").glob("*.json")]
        expected = mannwhitneyu(finals, [0.30, 0.32, 0.31], alternative="two-sided")
        assert row["u"] == pytest.approx(expected.statistic) and row["p_vs_ref"] == pytest.approx(expected.pvalue)
        assert row["delta_median"] == pytest.approx(np.median(finals) - 0.31)
        assert np.isfinite(row["fraction_of_ceiling"]) and row["train_seconds"] > 0
    table = cli("compare", "mr", "--store", str(store), "--manifest", str(store.parent / "experiments.yaml"),
                env={"COLUMNS": "220"})
    assert table.returncode == 0 and "Mann-Whitney" in table.stdout and "(ref)" in table.stdout
    bad = cli("compare", "nosuch", "--store", str(store))
    assert bad.returncode == 2 and "no finished runs of 'nosuch'" in bad.stderr


def test_notebook_api_frames(store):
    from neuro_reports.api import load_curves, load_per_neuron, load_runs

    runs = load_runs(store, ["multi"])
    assert len(runs) == 9 and set(runs.hp_lr) == {0.001, 0.02} and set(runs.hp_hidden) == {0.5, 1.0}
    rep = json.loads((store / "runs/rep/multix1/reps/2.json").read_text())
    row = runs[(runs.run_id == "rep/multix1") & (runs.rep == 2)].iloc[0]
    assert row.val_correlation == rep["val_correlation"] and row.seed == rep["seed"]
    curves = load_curves(store, ["rep/multix1"])
    assert sorted(set(curves.epoch)) == [0, 1, 3, 5] and len(curves) == 3 * 4
    neurons = load_per_neuron(store, ["multi"])
    assert len(neurons) == 9 * 10 and list(neurons.region.unique()) == ["region1", "region2"]
    # ceilings are each region's own CCmax, computed here independently from the raw repeats
    raw2 = np.load(store.parent / "data/Data/region2/raw_validation_set.npy")
    r, m = raw2.shape[0], raw2.mean(axis=0)
    sp = (raw2.sum(axis=0).var(axis=0, ddof=1) - raw2.var(axis=1, ddof=1).sum(axis=0)) / (r * (r - 1))
    with np.errstate(invalid="ignore"):
        expected = np.where(sp > 0, np.sqrt(np.where(sp > 0, sp, np.nan) / m.var(axis=0, ddof=1)), np.nan)
    got = neurons[(neurons.run_id == "rep/multix0") & (neurons.rep == 0) & (neurons.region == "region2")].cc_max
    np.testing.assert_allclose(got.to_numpy(), expected, equal_nan=True)
    np.testing.assert_allclose(neurons[neurons.run_id == "rep/multix1"].val_correlation.to_numpy()[:10],
                               json.loads((store / "runs/rep/multix1/reps/0.json").read_text())
                               ["val_correlation_per_neuron"])


def test_export_curves_and_h5(store, tmp_path):
    import csv
    import io

    import h5py

    proc = cli("export-curves", "multi", "--format", "csv", "--store", str(store))
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert len(rows) == 3 * 3 * 4 and {"hp_hidden", "hp_lr", "epoch", "val_correlation", "loss"} <= set(rows[0])
    as_json = json.loads(cli("export-curves", "rep/multix2", "--format", "json", "--store", str(store)).stdout)
    rep1 = json.loads((store / "runs/rep/multix2/reps/1.json").read_text())
    assert [p["val_correlation"] for p in as_json if p["rep"] == 1] == [p["val_correlation"] for p in rep1["curve"]]

    out = tmp_path / "results.h5"
    assert cli("export-h5", "multi", "experiments_old/bl4x0", "--out", str(out), "--store", str(store)).returncode == 0
    with h5py.File(out, "r") as h5:
        assert h5.attrs["format"] == "neuro-results"
        group = h5["runs/rep/multix2"]
        assert json.loads(group.attrs["hyperparameters"]) == {"hidden": 1.0, "lr": 0.001}
        assert group["val_correlation_per_neuron"].shape == (3, 10)
        assert [s.decode() if isinstance(s, bytes) else s for s in group["region"][:]] == ["region1"] * 6 + ["region2"] * 4
        rep0 = json.loads((store / "runs/rep/multix2/reps/0.json").read_text())
        np.testing.assert_allclose(group["val_correlation_per_neuron"][0], rep0["val_correlation_per_neuron"])
        np.testing.assert_allclose(group["curve/val_correlation"][0], [p["val_correlation"] for p in rep0["curve"]])
        assert list(group["curve/epoch"][:]) == [0, 1, 3, 5]
        assert group["ceilings/cc_max"].shape == (10,)
        old = h5["runs/experiments_old/bl4x0"]
        np.testing.assert_allclose(old["val_correlation"][:], [0.30, 0.32, 0.31], atol=1e-6)
        assert "val_correlation_per_neuron" not in old and old.attrs["source"] == "seed"
        bad = cli("export-curves", "multi", "--format", "xml", "--store", str(store))
        assert bad.returncode == 2 and "--format must be csv or json" in bad.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_tensorboard_serves_the_experiment_logs_on_localhost(store):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "msc_neuro_cli", "tensorboard", "multi", "--port", str(port),
                             "--store", str(store)], env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline, status, tags = time.time() + 120, None, {}
        while time.time() < deadline and status != 200:
            assert proc.poll() is None, proc.stdout.read().decode()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    status = response.status
            except OSError:
                time.sleep(0.5)
        assert status == 200
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/data/plugin/scalars/tags", timeout=10) as response:
            tags = json.loads(response.read())
        assert "multix0/hsm_h0.5_lr0.001__0/summaries/test" in tags
        assert "loss/correlation/correlation" in tags["multix0/hsm_h0.5_lr0.001__0/summaries/test"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_example_notebook_is_valid_and_runs_on_a_real_store(store, capsys):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    notebook = json.loads((REPO / "docs" / "notebook-example.ipynb").read_text())
    assert notebook["nbformat"] == 4 and notebook["metadata"]["kernelspec"]["language"] == "python"
    cells = notebook["cells"]
    assert len({c["id"] for c in cells}) == len(cells)
    code = [c for c in cells if c["cell_type"] == "code"]
    assert code and all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    assert all(c["cell_type"] in ("markdown", "code") and isinstance(c["source"], list) for c in cells)
    namespace: dict = {}
    exec(compile("".join(code[0]["source"]), "cell-0", "exec"), namespace)
    assert namespace["STORE"] == "training_data"
    namespace.update(STORE=str(store), EXPERIMENTS=["multi"])
    for i, cell in enumerate(code[1:], 1):
        exec(compile("".join(cell["source"]), f"cell-{i}", "exec"), namespace)
    out = capsys.readouterr().out
    assert "hp_lr" in out and "fraction of ceiling" in out and "vs rep/multix" in out
    assert len(namespace["reps"]) == 9
    plt.close("all")


def test_bad_input_gives_one_line_errors(store, tmp_path):
    cases = [
        (("report", "multi", "--store", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r")), "does not exist"),
        (("report", "nosuch", "--store", str(store), "--out", str(tmp_path / "r")), "no finished runs of 'nosuch'"),
        (("report", "multi", "--runs", "7", "--store", str(store), "--out", str(tmp_path / "r")),
         "--runs '7' matches none"),
        (("compare", "multi", "--ceiling", "best", "--store", str(store)), "--ceiling must be one of"),
        (("compare", "multi", "--reference", "multi", "--store", str(store)), "matches 3 runs"),
        (("tensorboard", "nosuch", "--store", str(store)), "no runs of 'nosuch'"),
    ]
    for args, message in cases:
        result = cli(*args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr, (args, result.stderr)
    assert not (tmp_path / "r" / "index.html").exists()
    printed = cli("tensorboard", "multix0", "--store", str(store), "--print-command")
    assert printed.returncode == 0
    assert printed.stdout.split()[-6:] == ["--logdir", str(store / "logs/rep/multix0"), "--host", "127.0.0.1",
                                           "--port", "6006"]
