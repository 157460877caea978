"""experiments.txt: the thesis pipeline's format, safe under many concurrent writers."""

from __future__ import annotations

import multiprocessing as mp

from msc_neuro_cli.store import ledger

WRITERS, LINES = 8, 200


def _writer(path: str, worker: int) -> None:
    for i in range(LINES):
        # long lines make torn writes likely if appends were not atomic
        ledger.append(path, f"experiments_{worker}/bs4_exp5x{i}/" + "n" * 300 + f"_{worker}_{i}")


def test_concurrent_appends_keep_every_line_whole(tmp_path):
    path = tmp_path / "experiments.txt"
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(path), w)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    lines = path.read_text().splitlines()
    assert len(lines) == WRITERS * LINES
    expected = {f"experiments_{w}/bs4_exp5x{i}/" + "n" * 300 + f"_{w}_{i}" for w in range(WRITERS) for i in range(LINES)}
    assert set(lines) == expected


def test_reader_skips_comments_and_append_is_unique(tmp_path):
    path = tmp_path / "experiments.txt"
    path.write_text("# a comment\nexperiments_2/bs3_exp5x3/baseline3_l11e-07xN0.2x5000\n\n")
    assert ledger.append(path, "demo/demox0/hsm") is True
    assert ledger.append(path, "demo/demox0/hsm") is False
    assert ledger.entries(path) == ["experiments_2/bs3_exp5x3/baseline3_l11e-07xN0.2x5000", "demo/demox0/hsm"]


def test_append_ends_an_unterminated_last_line_first(tmp_path):
    """A hand-edited thesis ledger often lacks its final newline: the entries must not glue."""
    path = tmp_path / "experiments.txt"
    path.write_text("experiments_2/bs3_exp5x3/baseline3")  # no trailing newline
    assert ledger.append(path, "demo/demox0/hsm") is True
    assert path.read_text() == "experiments_2/bs3_exp5x3/baseline3\ndemo/demox0/hsm\n"
    assert ledger.append(path, "demo/demox1/hsm") is True
    assert ledger.entries(path) == ["experiments_2/bs3_exp5x3/baseline3", "demo/demox0/hsm", "demo/demox1/hsm"]
