"""Backend profiles: manifest, user file, plugin defaults, and --set overrides on the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from msc_neuro_cli.errors import ManifestError, NeuroError
from msc_neuro_cli.spec.manifest import Manifest
from msc_neuro_cli.plugin_system.manager import registries
from msc_neuro_cli.runs.profiles import parse_overrides, resolve_backend


def _manifest(profiles):
    return Manifest(path=Path("m.yaml"), experiments={}, profiles=profiles, aliases={})


def test_precedence_and_overrides(tmp_path, monkeypatch):
    user = tmp_path / "profiles.yaml"
    user.write_text("qsub-cpu: {backend: qsub, cores: 8, queue: user.q}\nmine: {backend: slurm, cores: 3}\n")
    monkeypatch.setenv("NEURO_PROFILES", str(user))
    regs = registries()
    # the user's file beats the plugin default of the same name
    backend = resolve_backend("qsub-cpu", _manifest({}), regs)
    assert backend.plugin_name == "qsub" and backend.profile["cores"] == 8 and backend.profile["queue"] == "user.q"
    # the manifest beats the user's file; --set beats both
    manifest = _manifest({"mine": {"backend": "slurm", "cores": 5}})
    backend = resolve_backend("mine", manifest, regs, parse_overrides(["cores=2", "walltime=01:00:00"]))
    assert backend.profile["cores"] == 2 and backend.profile["walltime"] == "01:00:00"
    # plugin defaults when nobody else defines the name
    monkeypatch.setenv("NEURO_PROFILES", str(tmp_path / "absent.yaml"))
    assert resolve_backend("slurm-gpu", _manifest({}), regs).profile["gpus"] == 1


def test_bad_override_names_the_key():
    with pytest.raises(ManifestError, match=r"cores \(--set\): expected an integer"):
        resolve_backend("slurm", _manifest({}), registries(), parse_overrides(["cores=many"]))
    with pytest.raises(NeuroError, match="expected KEY=VALUE"):
        parse_overrides(["cores"])
