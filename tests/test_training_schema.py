"""One training schema: the manifest, the planner, TrainingConfig, the trainer table and the docs
all read msc_neuro_cli.engine.training_schema."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest

from msc_neuro_cli.engine import trainers, training_schema as schema
from msc_neuro_cli.errors import ManifestError

DOCS = Path(__file__).resolve().parents[1] / "docs" / "manifest.md"


def _away_from_default(key, param):
    """A valid value of ``param`` different from its default."""
    if param.choices:
        return next(c for c in param.choices if c != param.default)
    if key == "early_stopping":
        return {"patience": 7}
    if key == "replicas":
        return 3
    if isinstance(param.default, bool):
        return not param.default
    if isinstance(param.default, int):
        return param.default + 1
    if isinstance(param.default, float):
        return param.default / 2 if param.default else 0.5
    return param.default + "_other"


def test_docs_table_is_the_schema():
    text = DOCS.read_text()
    table = re.search(r"<!-- training-schema:start -->\n(.*?)<!-- training-schema:end -->", text, re.S)
    assert table, "docs/manifest.md lost its training-schema markers"
    assert table.group(1) == schema.markdown()
    printed = subprocess.run([sys.executable, "-m", "msc_neuro_cli.engine.training_schema", "--markdown"],
                             capture_output=True, text=True, check=True).stdout
    assert printed == schema.markdown()


def test_schema_module_imports_no_tensorflow():
    code = "import sys, msc_neuro_cli.engine.training_schema, msc_neuro_cli.engine.trainers; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_every_schema_key_reaches_training_config():
    from msc_neuro_cli.engine.trainer import TrainingConfig

    given = {key: _away_from_default(key, param) for key, param in schema.TRAINING.items()}
    config = TrainingConfig.from_spec(given, replica_groups=2)
    for key, value in given.items():
        expected = schema.with_defaults(value, schema.EARLY_STOPPING) if key == "early_stopping" else value
        assert getattr(config, key) == expected, key
        assert expected != schema.TRAINING[key].default, key
    assert config.replica_groups == 2
    fields = {f.name: f.default for f in dataclasses.fields(TrainingConfig)}
    for key, param in schema.TRAINING.items():  # and the defaults are the schema's
        assert fields[key] == param.default, key


def test_training_config_refuses_a_key_the_schema_does_not_know():
    from msc_neuro_cli.engine.trainer import TrainingConfig

    with pytest.raises(ManifestError, match="training.momentum"):
        TrainingConfig.from_spec({"epochs": 3, "momentum": 0.9})


def test_spec_frozen_before_a_key_existed_gets_its_default():
    from msc_neuro_cli.engine.trainer import TrainingConfig

    old = {"epochs": 3, "early_stopping": {"patience": 2}}
    config = TrainingConfig.from_spec(old)
    assert config.batch_size == schema.DEFAULT_BATCH_SIZE
    assert config.early_stopping["monitor"] == "loss" and config.early_stopping["patience"] == 2


def test_keys_added_later_stay_out_of_specs_at_their_default():
    resolved = schema.defaults(schema.EARLY_STOPPING)
    frozen = schema.frozen("early_stopping", resolved, schema.EARLY_STOPPING)
    assert "monitor" not in frozen and "patience" in frozen
    assert schema.frozen("early_stopping", {**resolved, "monitor": "correlation"},
                         schema.EARLY_STOPPING)["monitor"] == "correlation"


@pytest.mark.parametrize("training, on_disk, name", [
    ({"optimizer": "lbfgs"}, False, "lbfgs"), ({"optimizer": "lbfgs"}, True, "lbfgs"),
    ({}, True, "streaming"), ({"optimizer": "adam"}, False, "adam")])
def test_the_table_picks_the_trainer(training, on_disk, name):
    entry = trainers.choose(training, on_disk)
    assert entry.name == name
    assert entry.trainer_class().__name__ == {"lbfgs": "LbfgsTrainer", "streaming": "StreamingTrainer",
                                              "adam": "ReplicatedTrainer"}[name]


@pytest.mark.parametrize("training, on_disk, key", [
    ({"lbfgs_memory": 4}, False, "lbfgs_memory"),
    ({"optimizer": "lbfgs", "precision": "mixed_bfloat16"}, False, "precision"),
    ({"early_stopping": {"patience": 2}}, True, "early_stopping")])
def test_a_trainer_refuses_a_key_it_cannot_honour_naming_it(training, on_disk, key):
    with pytest.raises(ManifestError, match=f"^training.{key}: not available with the"):
        trainers.choose(training, on_disk)


def test_lbfgs_ignores_the_minibatch_keys():
    assert trainers.choose({"optimizer": "lbfgs", "batch_size": 32, "learning_rate": 0.1}, False).name == "lbfgs"


def test_every_schema_key_is_honoured_or_ignored_by_some_trainer():
    for key in schema.TRAINING:
        assert any(key in e.options or key in e.ignored for e in trainers.TRAINERS), key


def test_the_planner_refuses_a_key_the_trainer_cannot_honour(tmp_path):
    from msc_neuro_cli.plugin_system.manager import registries
    from msc_neuro_cli.spec.manifest import load_manifest
    from msc_neuro_cli.spec.plan import plan_experiment

    path = tmp_path / "experiments.yaml"
    path.write_text("version: 1\nexperiments:\n  e:\n    folder: f\n    name: n\n"
                    "    dataset: {name: synthetic}\n    model: [{component: normal, units: N}]\n"
                    "    training: {epochs: 2, lbfgs_memory: 4}\n")
    with pytest.raises(ManifestError, match=r"experiments.yaml:\d+.*training.lbfgs_memory: not available with the adam"):
        plan_experiment(load_manifest(path).get("e"), registries())
