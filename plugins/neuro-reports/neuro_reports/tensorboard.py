"""``neuro tensorboard``: TensorBoard on the logs of some experiments (127.0.0.1 by default).

Runs in any state count (TensorBoard is most useful while training), and so do runs of the thesis pipeline's
own pipeline listed in experiments.txt. One run's folder is passed as ``--logdir``; several as
``--logdir_spec name:path,...`` (named by run), unless a path holds a comma or colon, which that
syntax cannot carry: then their common parent folder is served.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Iterable

from msc_neuro_cli.api import RunId, RunStore, StoreError, ledger_entries


def log_folders(store_root: Path, tokens: Iterable[str], aliases: dict[str, str] | None = None) -> dict[str, Path]:
    """Run label (EXPxRUN) -> its logs folder, for every run matching a token (experiment or run id)."""
    store = RunStore(Path(store_root))
    candidates: dict[str, tuple[str, Path]] = {}  # run id -> (experiment, logs folder)
    for rid in store.run_ids():
        candidates[str(rid)] = (store.read_spec(rid)["experiment"], store.root / "logs" / rid.folder / rid.exp)
    for entry in ledger_entries(store.ledger):
        parts = entry.split("/")
        if len(parts) == 3:
            rid = RunId.parse(f"{parts[0]}/{parts[1]}")
            candidates.setdefault(str(rid), (rid.exp_name, store.root / "logs" / rid.folder / rid.exp))
    aliases = aliases or {}
    found: dict[str, Path] = {}
    for token in tokens:
        key = aliases.get(token, token)
        hits = {run_id: path for run_id, (exp, path) in candidates.items()
                if key in (exp, run_id, run_id.split("/")[-1])}
        if not hits:
            known = sorted({exp for exp, _ in candidates.values()})
            raise StoreError(f"no runs of {token!r} in {store.root} (experiments there: {', '.join(known) or 'none'})")
        found.update(hits)
    existing = {run_id.split("/")[-1] if _unique_tail(found, run_id) else run_id: path
                for run_id, path in sorted(found.items()) if path.is_dir()}
    if not existing:
        raise StoreError(f"no TensorBoard logs yet for {', '.join(tokens)} under {store.root / 'logs'}")
    return existing


def _unique_tail(found: dict[str, Path], run_id: str) -> bool:
    tail = run_id.split("/")[-1]
    return sum(1 for r in found if r.split("/")[-1] == tail) == 1


def logdir_arguments(folders: dict[str, Path]) -> list[str]:
    if len(folders) == 1:
        return ["--logdir", str(next(iter(folders.values())))]
    if all("," not in f"{n}{p}" and ":" not in f"{n}{p}" for n, p in folders.items()):
        return ["--logdir_spec", ",".join(f"{n}:{p}" for n, p in folders.items())]
    return ["--logdir", os.path.commonpath([str(p) for p in folders.values()])]


def command(folders: dict[str, Path], host: str, port: int) -> list[str]:
    """The argument list (no shell) that starts TensorBoard on ``folders``."""
    return [sys.executable, "-m", "tensorboard.main", *logdir_arguments(folders), "--host", host,
            "--port", str(int(port))]


def serve(argv: list[str]) -> None:
    """Replace this process by TensorBoard (stopping it with Ctrl-C or a signal stops TensorBoard)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)
