"""Bad input paths of the store and the manifest: one line, exit 2, nothing written (issue 14)."""

from __future__ import annotations

from pathlib import Path

import pytest

from msc_neuro_cli.errors import StoreError
from msc_neuro_cli.store.fsutil import read_json
from msc_neuro_cli.testing import neuro

REPO_MANIFEST = str(Path(__file__).resolve().parents[1] / "experiments.yaml")


def _one_line_error(proc, *fragments: str) -> None:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout


@pytest.mark.parametrize("content", [b"\x00\x01\xff\xfe binary", b"experiments:\n  a: \x00b\n",
                                     "experiments: {demo: café}\n".encode("latin-1")])
def test_binary_or_non_utf8_manifest(tmp_path, content):
    manifest = tmp_path / "experiments.yaml"
    manifest.write_bytes(content)
    proc = neuro("experiments", "--manifest", str(manifest), cwd=tmp_path)
    _one_line_error(proc, str(manifest))


@pytest.mark.parametrize("command", [("status",), ("export-metrics",), ("run", "demo", "--dry-run", "--manifest", REPO_MANIFEST)])
def test_store_that_is_a_file(tmp_path, command):
    store = tmp_path / "store"
    store.write_text("not a folder")
    proc = neuro(*command, "--store", str(store), cwd=tmp_path)
    _one_line_error(proc, str(store), "is a file")
    assert store.read_text() == "not a folder"


def test_runs_folder_that_is_a_file(tmp_path):
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "runs").write_text("")
    proc = neuro("status", "--store", str(tmp_path / "store"), cwd=tmp_path)
    _one_line_error(proc, str(tmp_path / "store" / "runs"), "is a file")


@pytest.mark.parametrize("content", [b"", b"{\"state\": ", b"\xff\xfe"])
def test_damaged_json_names_its_file(tmp_path, content):
    path = tmp_path / "state.json"
    path.write_bytes(content)
    with pytest.raises(StoreError) as info:
        read_json(path)
    message = str(info.value)
    assert str(path) in message and "damaged JSON" in message and "\n" not in message
