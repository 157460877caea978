"""``neuro run EXP -o KEY.PATH=VALUE``: every override form, its errors, and the run's spec."""

from __future__ import annotations

import pytest

from msc_neuro_cli.errors import ManifestError
from msc_neuro_cli.spec.overrides import apply_overrides, parse_override
from msc_neuro_cli.spec.yamlsource import LocDict, LocList
from msc_neuro_cli.testing import TINY_MANIFEST, neuro, write_tiny_dataset


def _experiment():
    model = LocList([LocDict({"component": "a", "units": 3}), LocDict({"component": "b", "units": "N"})])
    return LocDict({"training": LocDict({"epochs": 6}), "model": model})


def test_values_are_yaml_typed_and_paths_reach_mappings_and_list_items():
    original = _experiment()
    edited = apply_overrides(original, [parse_override(t) for t in (
        "training.epochs=2", "model.1.units=0.4N", "training.learning_rate=1e-3", "dataset.regions=[1, 2]",
        "model.0.regularizers={l2: 0.5}")])
    assert edited["training"] == {"epochs": 2, "learning_rate": 1e-3}
    assert edited["model"][1]["units"] == "0.4N" and edited["model"][0]["regularizers"] == {"l2": 0.5}
    assert edited["dataset"] == {"regions": [1, 2]}
    assert original["training"] == {"epochs": 6} and original["model"][1]["units"] == "N"  # untouched
    assert isinstance(edited["model"], LocList) and edited["model"].line_of(1) == original["model"].line_of(1)


@pytest.mark.parametrize("text, message", [
    ("training.epochs", "expected KEY.PATH=VALUE"),
    ("training..epochs=2", "expected KEY.PATH=VALUE"),
    ("training.epochs=[1", "the value is not YAML"),
    ("training.epochs=", "give a value"),
    ("model.7.units=3", "model is a list of 2 entries: '7' is not an index"),
    ("model.x.units=3", "'x' is not an index"),
    ("training.epochs.max=3", "training.epochs is 6, not a mapping or list"),
])
def test_bad_overrides_name_themselves(text, message):
    with pytest.raises(ManifestError) as info:
        apply_overrides(_experiment(), [parse_override(text)])
    assert str(info.value).startswith(f"-o {text}: ") and message in str(info.value)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("overrides")
    (root / "experiments.yaml").write_text(TINY_MANIFEST.format(data=write_tiny_dataset(root / "data")))
    return root


def test_overridden_run_is_planned_validated_and_recorded(project):
    from msc_neuro_cli.plugin_system.manager import registries
    from msc_neuro_cli.runs.submit import _planned

    manifest = project / "experiments.yaml"
    _, _, plain = _planned("tiny", manifest, [], registries())
    _, exp, changed = _planned("t", manifest, ["training.epochs=2", "model.1.units=0.4N"], registries())
    assert exp.key == "tiny" and [p.spec["training"]["epochs"] for p in changed] == [2, 2]
    assert [p.spec["model"][1]["params"]["units"] for p in changed] == ["0.4N", "0.4N"]
    assert changed[0].spec["overrides"] == ["training.epochs=2", "model.1.units=0.4N"]
    assert "overrides" not in plain[0].spec
    assert {p.spec_hash for p in plain}.isdisjoint(p.spec_hash for p in changed)
    assert [p.spec_hash for p in changed] != [p.spec_hash for p in _planned("tiny", manifest, ["training.epochs=3"],
                                                                          registries())[2]]


def test_override_errors_through_the_cli_exit_2_naming_the_override(project):
    proc = neuro("run", "tiny", "--dry-run", "-o", "training.epochs=2", cwd=project, env={"COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr
    assert "│ 2 " in proc.stdout or " 2 " in proc.stdout
    for text in ("training.epochs=-3", "model.1.component=nosuch", "model.5.units=3", "dataset.path=/nonexistent/x"):
        proc = neuro("run", "tiny", "--dry-run", "-o", text, cwd=project)
        assert proc.returncode == 2, (text, proc.stdout, proc.stderr)
        line = proc.stderr.strip()
        assert len(line.splitlines()) == 1, line
        if "nonexistent" not in text:
            assert f"-o {text}" in line, line
