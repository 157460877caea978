"""Bad manifests: one-line errors naming file, line and key; exit code 2; nothing written."""

from __future__ import annotations

import textwrap

import pytest

from msc_neuro_cli.cli import main

GOOD = """\
version: 1
experiments:
  tiny:
    folder: f
    name: "n_h{hidden}"
    dataset: {name: antolik2016, path: DATA, regions: [1]}
    model:
      - {component: diff_of_gaussians, units: 3}
      - {component: normal, units: N, activation: softplus}
    training: {epochs: 2}
    grid: {hidden: [0.5]}
    repetitions: 1
"""

CASES = {
    "malformed_yaml": (lambda s: s.replace("folder: f", "folder: [f"), "malformed YAML", ":"),
    "unknown_key": (lambda s: s.replace("folder: f", "folder: f\n    colour: blue"), "unknown key", "experiments.tiny.colour"),
    "wrong_type": (lambda s: s.replace("epochs: 2", "epochs: two"), "expected an integer", "training.epochs"),
    "unknown_component": (lambda s: s.replace("component: normal", "component: dense_layer"),
                          "unknown component 'dense_layer' (available:", "model[1].component"),
    "empty_grid": (lambda s: s.replace("hidden: [0.5]", "hidden: []"), "empty grid axis", "grid.hidden"),
    "template_missing_key": (lambda s: s.replace("n_h{hidden}", "n_h{hiden}"), "{hiden}", "tiny.name"),
    "missing_dataset": (lambda s: s.replace("path: DATA", "path: /nonexistent/neuro-data"), "/nonexistent/neuro-data", "experiments.tiny.dataset (antolik2016)"),
    "unknown_param": (lambda s: s.replace("units: 3}", "units: 3, widht: 4}"), "unknown key 'widht'", "model[0]"),
    "duplicate_key": (lambda s: s.replace("folder: f", "folder: f\n    folder: g"), "duplicate key 'folder'", ":"),
    "bad_folder": (lambda s: s.replace("folder: f", "folder: ../escape"), "not a safe name", "folder"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_manifest_is_one_line_error(case, tmp_path, tiny_data, capsys, monkeypatch):
    mutate, message, place = CASES[case]
    manifest = tmp_path / "experiments.yaml"
    manifest.write_text(mutate(GOOD).replace("DATA", str(tiny_data)))
    store = tmp_path / "training_data"
    monkeypatch.setenv("COLUMNS", "300")
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "tiny", "--manifest", str(manifest), "--store", str(store)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    assert err.startswith("error: ")
    assert message in err and place in err, err
    assert str(manifest) in err
    assert not store.exists()


def test_good_manifest_dry_run_prints_plan(tmp_path, tiny_data, capsys, monkeypatch):
    manifest = tmp_path / "experiments.yaml"
    manifest.write_text(GOOD.replace("DATA", str(tiny_data)).replace("hidden: [0.5]", "hidden: [0.5, 1.0]"))
    monkeypatch.setenv("COLUMNS", "300")
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "tiny", "--dry-run", "--manifest", str(manifest), "--store", str(tmp_path / "td")])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "f/tinyx0" in out and "f/tinyx1" in out
    assert "n_h0.5" in out and "n_h1.0" in out and "hidden=1.0" in out
    assert not (tmp_path / "td").exists()


def test_union_of_subgrids_and_zip(tmp_path):
    from msc_neuro_cli.spec.manifest import load_manifest
    from msc_neuro_cli.spec.plan import grid_points
    manifest = tmp_path / "m.yaml"
    manifest.write_text(textwrap.dedent("""\
        experiments:
          e:
            dataset: {name: synthetic}
            model: [{component: normal, units: N}]
            name: "r{readout}_{reg}"
            grid:
              - axes: {readout: [sep], reg: [0.1, 1]}
              - start: 172
                axes: {readout: [normal]}
                zip: {reg: [0.5, 5]}
        """))
    exp = load_manifest(manifest).get("e")
    points = list(grid_points(exp))
    assert [run for run, _ in points] == [0, 1, 172, 173]
    assert points[2][1] == {"readout": "normal", "reg": 0.5}
    assert points[1][1] == {"readout": "sep", "reg": 1}
