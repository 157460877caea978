"""Scriptable output: every ``--json`` parsed, exit 2 for unknown names, global --store/--manifest,
progress on stderr, piped tables uncut, shell completion."""

from __future__ import annotations

import json
import re

import pytest

from msc_neuro_cli.testing import TINY_MANIFEST, neuro, write_tiny_dataset


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("scripted")
    (root / "experiments.yaml").write_text(TINY_MANIFEST.format(data=write_tiny_dataset(root / "data")))
    # global options before the command, and an override of the epochs
    proc = neuro("--store", str(root / "store"), "run", "tiny", "-o", "training.epochs=2", "--jobs", "2", cwd=root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not re.search(r"━+\s+\d+/\d+", proc.stdout), "progress bars belong on stderr"
    assert re.search(r"━+\s+2/2", proc.stderr), proc.stderr
    assert (root / "store" / "experiments.txt").exists()
    return root


def _json(root, *args):
    proc = neuro(*args, cwd=root, env={"NEURO_STORE": str(root / "store")})
    assert proc.returncode == 0, (args, proc.stderr)
    return json.loads(proc.stdout)


def _snake(keys):
    bad = [k for k in keys if not re.fullmatch(r"[a-z][a-z0-9_]*", k)]
    assert not bad, f"keys that are not snake_case: {bad}"


def test_every_json_output_parses_with_snake_case_keys(trained):
    exps = _json(trained, "experiments", "--json")
    assert exps == [{"experiment": "tiny", "aliases": ["t"], "folder": "testfolder", "runs": 2, "repetitions": 2,
                     "description": "", "search": None}]
    plugins = {p["name"]: p for p in _json(trained, "plugins", "--json")}
    _snake(plugins["dense"]) and _snake(plugins["dense"]["provides"])
    assert "normal" in plugins["dense"]["provides"]["component"] and plugins["dense"]["error"] is None
    status = _json(trained, "status", "--json")
    assert [(r["run_id"], r["state"]) for r in status] == [("testfolder/tinyx0", "finished"),
                                                           ("testfolder/tinyx1", "finished")]
    assert [r["epochs"] for r in status] == [2, 2]  # the override reached the runs
    for row in status:
        _snake(row)
    compare = _json(trained, "compare", "tiny", "--json")
    assert len(compare) == 2 and {"delta_median", "p_vs_ref", "median", "u"} <= set(compare[0])
    for row in compare:
        _snake(row)
    metrics = _json(trained, "export-metrics", "tiny", "--json")
    assert len(metrics) == 4 and all(-1 <= r["val_correlation"] <= 1 for r in metrics)
    for row in metrics:
        _snake(row)


@pytest.mark.parametrize("args", [("status", "nosuch"), ("export-metrics", "nosuch"), ("cancel", "nosuch"),
                                  ("compare", "nosuch"), ("run", "nosuch", "--dry-run")])
def test_unknown_names_exit_2_with_one_line(trained, args):
    proc = neuro(*args, cwd=trained, env={"NEURO_STORE": str(trained / "store")})
    assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
    assert proc.stdout == "" and len(proc.stderr.strip().splitlines()) == 1 and "nosuch" in proc.stderr


def test_global_and_per_command_store_options(trained, tmp_path):
    store = str(trained / "store")
    before = neuro("--store", store, "status", "--json", cwd=tmp_path)
    after = neuro("status", "--json", "--store", store, cwd=tmp_path)
    assert before.returncode == after.returncode == 0 and json.loads(before.stdout) == json.loads(after.stdout)
    manifest = neuro("--manifest", str(trained / "experiments.yaml"), "experiments", "--json", cwd=tmp_path)
    assert manifest.returncode == 0 and json.loads(manifest.stdout)[0]["experiment"] == "tiny"


def test_piped_tables_keep_every_digit(trained):
    proc = neuro("compare", "tiny", cwd=trained, env={"NEURO_STORE": str(trained / "store"), "COLUMNS": ""})
    assert proc.returncode == 0, proc.stderr
    assert "…" not in proc.stdout
    medians = _json(trained, "compare", "tiny", "--json")
    assert f"{medians[0]['median']:.3f}" in proc.stdout


def test_shell_completion_is_installable(tmp_path):
    proc = neuro("--show-completion", "bash", cwd=tmp_path)
    assert proc.returncode == 0 and "_neuro_completion" in proc.stdout
    assert "--install-completion" in neuro("--help", cwd=tmp_path).stdout


def _tsv_rows(text: str) -> tuple[list[str], list[list[str]]]:
    lines = text.rstrip("\n").split("\n")
    return lines[0].split("\t"), [line.split("\t") for line in lines[1:]]


def _same_value(cell: str, value) -> bool:
    """A TSV cell read back equals the ``--json`` value: numbers exactly (every digit)."""
    if value is None:
        return cell == ""
    if isinstance(value, bool):
        return cell == str(value).lower()
    if isinstance(value, (int, float)):
        return float(cell) == value
    if isinstance(value, (list, dict)):
        return json.loads(cell) == value
    return cell == value


@pytest.mark.parametrize("args", [("experiments",), ("plugins",), ("status",), ("compare", "tiny"),
                                  ("export-metrics", "tiny"), ("export-metrics", "tiny", "--summary")])
def test_tsv_has_the_json_keys_and_every_digit(trained, args):
    rows = _json(trained, *args, "--json")
    proc = neuro(*args, "--tsv", cwd=trained, env={"NEURO_STORE": str(trained / "store")})
    assert proc.returncode == 0, proc.stderr
    header, cells = _tsv_rows(proc.stdout)
    assert header == list(dict.fromkeys(key for row in rows for key in row))
    assert len(cells) == len(rows) and all(len(line) == len(header) for line in cells)
    for row, line in zip(rows, cells):
        for key, cell in zip(header, line):
            assert _same_value(cell, row.get(key)), (args, key, cell, row.get(key))
    floats = [v for row in rows for v in row.values() if isinstance(v, float)]
    assert all(repr(v) in proc.stdout for v in floats)  # not rounded to 3 digits like the tables


@pytest.mark.parametrize("args", [("experiments",), ("plugins",), ("status",), ("compare", "tiny"),
                                  ("export-metrics", "tiny")])
def test_json_and_tsv_together_exit_2(trained, args):
    proc = neuro(*args, "--json", "--tsv", cwd=trained, env={"NEURO_STORE": str(trained / "store")})
    assert proc.returncode == 2 and proc.stdout == "", (args, proc.stdout)
    assert proc.stderr.strip().splitlines() == ["error: --json and --tsv cannot be combined: choose one"]


def test_tsv_escapes_text_and_keeps_numbers():
    from msc_neuro_cli.output import tsv_text
    import numpy as np

    text = tsv_text([{"a": 0.1 + 0.2, "b": "x\ty\nz\\", "c": None, "d": float("nan"), "e": True},
                     {"a": np.float32(0.5), "f": np.int64(3), "g": {"k": [1, 2]}}])
    assert text.split("\n") == ["a\tb\tc\td\te\tf\tg", "0.30000000000000004\tx\\ty\\nz\\\\\t\t\ttrue\t\t",
                                '0.5\t\t\t\t\t3\t{"k":[1,2]}', ""]
    assert tsv_text([]) == ""


def test_piped_status_table_keeps_every_digit(trained):
    proc = neuro("status", cwd=trained, env={"NEURO_STORE": str(trained / "store"), "COLUMNS": ""})
    assert proc.returncode == 0, proc.stderr
    assert "…" not in proc.stdout
    for row in _json(trained, "status", "--json"):
        assert row["run_id"] in proc.stdout and row["job_id"] in proc.stdout
        assert f"{row['val_correlation']:.3f}" in proc.stdout
