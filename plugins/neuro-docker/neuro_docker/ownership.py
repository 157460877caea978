"""Who a container runs as, and handing a run's folders to that user.

Containers never run as root: by default they run as the owner of the run store, so everything
the worker writes belongs to that user. When ``neuro`` itself runs as root (a CI machine), the
folders it just created for the run are handed to that user first.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from msc_neuro_cli.api import LEDGER_NAME, BackendError, RunId, RunStore

USER = re.compile(r"^(\d+):(\d+)$")


def container_user(user: str | None, store: Path) -> tuple[int, int]:
    """``UID:GID`` from the profile, else the store's owner; root is refused."""
    if user:
        match = USER.match(user.strip())
        if not match:
            raise BackendError(f"user {user!r} must be numeric UID:GID, e.g. 1000:1000")
        uid, gid = int(match.group(1)), int(match.group(2))
    else:
        store.mkdir(parents=True, exist_ok=True)
        info = store.stat()
        uid, gid = info.st_uid, info.st_gid
    if uid == 0:
        raise BackendError(f"containers run as a non-root user, but the run store {store} belongs to root: "
                           "chown it to the user who should own the results (e.g. `chown -R 1000:1000 "
                           f"{store}`) or set `user: UID:GID` in the docker profile")
    return uid, gid


def hand_over(store: Path, rid: RunId, uid: int, gid: int) -> None:
    """Make the folders and files a worker writes for ``rid`` writable by ``uid``.

    Only needed (and only possible) when we run as root; otherwise we created them as ourselves.
    """
    if os.geteuid() != 0:
        return
    runs = RunStore(store)
    out_log = runs.job_logs(rid)[0]
    leaves = [runs.run_dir(rid), runs.root / "logs" / rid.folder / rid.exp,
              runs.root / "models" / rid.folder / rid.exp, out_log.parent]
    for leaf in leaves:
        leaf.mkdir(parents=True, exist_ok=True)
        node = leaf
        while node != runs.root:            # the folders between the store and the leaf
            os.chown(node, uid, gid)
            node = node.parent
        for dirpath, dirnames, filenames in os.walk(leaf):
            for entry in dirnames + filenames:
                os.chown(os.path.join(dirpath, entry), uid, gid, follow_symlinks=False)
    ledger = runs.root / LEDGER_NAME
    if not ledger.exists():
        ledger.touch()
    if ledger.stat().st_uid != uid:
        os.chown(ledger, uid, gid)
