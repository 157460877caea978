"""`neuro status` over many runs: the plain fixed-width table lists every run in the columns of
the small table, and damaged runs keep their error lines (issue 14, item 10)."""

from __future__ import annotations

import io

from rich.console import Console

from msc_neuro_cli.plain_table import PLAIN_FROM, plain_table
from msc_neuro_cli.runs.results import record_scores
from msc_neuro_cli.runs.status import print_status


def _row(i: int, state: str = "finished") -> dict:
    return {"run_id": f"scale/bigx{i}", "experiment": "big", "name": f"hsm_h{i}", "state": state,
            "epoch": 10, "epochs": 10, "reps_done": 5, "reps_total": 5, "backend": "slurm", "job_id": f"77_{i}",
            "last_val_correlation": None, "exit_code": None, "error": "job 77 ended: failed" if state == "failed"
            else None, "search": None, **record_scores({"val_correlation": {"median": i / 1000}})}


def _printed(rows: list[dict], width: int) -> str:
    out = io.StringIO()
    print_status(rows, Console(file=out, width=width))
    return out.getvalue()


def test_plain_table_aligns_columns_and_right_aligns_numbers():
    text = plain_table(["id", "r"], [["a", "0.5"], ["long id", "10.25"]], frozenset({1}))
    assert text.splitlines() == ["id" + " " * 11 + "r", "-------  -----", "a" + " " * 10 + "0.5", "long id  10.25"]


def test_many_runs_are_listed_in_full_in_plain_columns():
    rows = [_row(i, "failed" if i == 7 else "finished") for i in range(PLAIN_FROM + 50)]
    text = _printed(rows, 120)
    lines = text.splitlines()
    assert lines[0].split() == ["run", "id", "name", "state", "epoch", "reps", "backend", "job", "val", "r",
                                "r/ceiling"]
    body = lines[2:2 + len(rows)]
    assert [line.split()[0] for line in body] == [row["run_id"] for row in rows]
    assert body[123].split() == ["scale/bigx123", "hsm_h123", "finished", "10/10", "5/5", "slurm", "77_123", "0.123"]
    assert len({len(line) for line in body}) == 1  # fixed width: every row as long as the widest
    assert lines[2 + len(rows):] == ["scale/bigx7: job 77 ended: failed"]
    assert "\x1b[" not in text and "┃" not in text


def test_a_few_runs_keep_the_rich_table():
    rows = [_row(i) for i in range(3)]
    text = _printed(rows, 120)
    assert "┃" in text and "scale/bigx2" in text and "0.002" in text
    narrow = _printed(rows, 80)  # below 100 columns, backend and job are left to --json
    assert "slurm" not in narrow and "scale/bigx2" in narrow.replace("\n", "").replace("│", "").replace(" ", "")


def test_a_big_dry_run_lists_every_planned_run(tmp_path):
    from msc_neuro_cli.testing import TINY_MANIFEST, neuro, write_tiny_dataset

    data = write_tiny_dataset(tmp_path / "data")
    hidden = [round(0.01 * (i + 1), 2) for i in range(PLAIN_FROM + 10)]
    (tmp_path / "experiments.yaml").write_text(
        TINY_MANIFEST.format(data=data).replace("grid: {hidden: [0.5, 1.0]}", f"grid: {{hidden: {hidden}}}"))
    proc = neuro("run", "tiny", "--dry-run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"plan: {len(hidden)} runs" and lines[1].split()[:3] == ["run", "id", "name"]
    assert [line.split()[0] for line in lines[3:]] == [f"testfolder/tinyx{i}" for i in range(len(hidden))]
    assert all(line.split()[-1] == "planned" for line in lines[3:])


def test_status_reads_the_spec_card_kept_in_the_state_while_the_spec_is_unchanged(tmp_path):
    import json
    import os

    from msc_neuro_cli.plugin_system.manager import registries
    from msc_neuro_cli.runs.status import collect_status
    from msc_neuro_cli.store.run_store import RunId, RunStore

    store = RunStore(tmp_path / "store")
    rid = RunId.parse("f/expx3")
    spec = {"experiment": "exp", "name": "n1", "run": 3, "training": {"epochs": 7}, "seeds": [1, 2],
            "search": None, "model": [{"component": "normal"}] * 50}
    store.write_spec(rid, spec)
    card = store.read_state(rid)["card"]
    assert {k: card[k] for k in ("experiment", "name", "run", "epochs", "reps")} == {
        "experiment": "exp", "name": "n1", "run": 3, "epochs": 7, "reps": 2}
    row, = collect_status(store.root, None, registries())
    assert (row["experiment"], row["name"], row["epochs"], row["reps_total"]) == ("exp", "n1", 7, 2)

    spec_path = store.run_dir(rid) / "spec.json"
    spec_path.write_text(json.dumps({**spec, "name": "edited by hand"}))  # the card is stale now
    row, = collect_status(store.root, None, registries())
    assert row["name"] == "edited by hand"

    state_path = store.run_dir(rid) / "state.json"  # a store from before cards: the spec is read
    state_path.write_text(json.dumps({"state": "failed", "error": "e"}))
    os.utime(spec_path)
    row, = collect_status(store.root, ["exp"], registries())
    assert (row["name"], row["state"], row["error"]) == ("edited by hand", "failed", "e")
