"""`neuro status` table: readable on a narrow terminal, complete on a wide one."""

from __future__ import annotations

import io

from rich.console import Console

from msc_neuro_cli.runs.status import print_status

ROW = {"run_id": "bs4_exp3/bs4_exp3x12", "name": "hsm_dog9_h0.2_l2_0.1", "state": "finished",
       "epoch": 5000, "epochs": 5000, "reps_done": 25, "reps_total": 25, "backend": "slurm",
       "job_id": "slurm:123456_7", "val_correlation": 0.4321, "last_val_correlation": None,
       "fraction_of_ceiling": 0.5512}


def _render(width: int) -> str:
    out = io.StringIO()
    print_status([ROW], Console(file=out, width=width, color_system=None))
    return out.getvalue()


def test_narrow_terminal_keeps_ids_and_numbers_whole():
    text = _render(80)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "0.432" in text and "0.551" in text and "…" not in text
    body = [line.split("│")[1:3] for line in text.splitlines() if line.startswith("│")]
    assert "".join(cells[0].strip() for cells in body) == ROW["run_id"]  # wrapped, not cut
    assert "".join(cells[1].strip() for cells in body) == ROW["name"]
    assert "123456_7" not in text  # the job column is left to --json there


def test_wide_terminal_shows_backend_and_job():
    text = _render(160)
    assert "slurm:123456_7" in text and "bs4_exp3/bs4_exp3x12" in text and "0.551" in text


def test_names_with_brackets_are_shown_as_text_not_markup():
    row = {**ROW, "run_id": "bs4_exp3/lr[0.1]x0", "name": "hsm_[bold]x[/bold]_[red]"}
    out = io.StringIO()
    print_status([row], Console(file=out, width=200, color_system=None))
    text = out.getvalue()
    assert "bs4_exp3/lr[0.1]x0" in text and "hsm_[bold]x[/bold]_[red]" in text
