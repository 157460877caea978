"""Pure pieces of the docker backend: what a run's container looks like, what its state means,
and which queued containers may start. Nothing here talks to the engine."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from msc_neuro_cli.api import JobStatus, RunState, worker_argv

LABEL_RUN = "neuro.run"        # run id, e.g. folder/bs4_exp5x3
LABEL_STORE = "neuro.store"    # absolute path of the run store on the host
LABEL_BATCH = "neuro.batch"    # one submission
LABEL_ORDER = "neuro.order"    # position in the submission (queued containers start in order)
LABEL_LIMIT = "neuro.limit"    # containers of the batch that may run at once (0: no limit)
ACTIVE = ("running", "restarting", "paused", "removing")

# Worker output goes to the run's job logs in the mounted store. The command is
# ``OUT ERR WORKER_ARGV...``: the values arrive as positional parameters ($0, $1, then "$@"),
# never inside the shell text.
WRAPPER = 'out=$0 err=$1; shift; mkdir -p "$(dirname "$out")" "$(dirname "$err")" && exec "$@" >"$out" 2>"$err"'
PROGRAM = ["neuro"]   # how the image starts the neuro CLI (its entry point)
MIN_MEMORY_MIB = 6    # Docker refuses limits below 6 MiB


def container_name(run_id: str, batch: str) -> str:
    """'folder/bs4_exp5x3' -> 'neuro-folder-bs4_exp5x3-<batch>' (Docker's name alphabet only)."""
    return "neuro-" + re.sub(r"[^A-Za-z0-9_.-]", "-", run_id.replace("/", "-"))[:180] + f"-{batch}"


def data_paths(dataset: dict[str, Any]) -> list[Path]:
    """Host paths a run's dataset reads: string parameters naming an existing file or folder,
    relative ones taken from the manifest's folder (``base_dir``), as the dataset plugins do."""
    base = Path(dataset.get("base_dir") or ".")
    found = []
    for value in (dataset.get("params") or {}).values():
        if isinstance(value, str) and value and "\n" not in value:
            path = Path(value) if Path(value).is_absolute() else base / value
            if path.exists():
                found.append(path.resolve())
    return found


def container_config(*, image: str, run_id: str, store: Path, logs: tuple[Path, Path], user: str,
                     read_only: list[Path], name: str, labels: dict[str, str], settings: dict[str, Any]
                     ) -> dict[str, Any]:
    """Keyword arguments for ``client.containers.create``."""
    from docker.types import DeviceRequest, Mount

    mounts = [Mount(target=str(store), source=str(store), type="bind", read_only=False)]
    for path in sorted(set(read_only)):
        mounts.append(Mount(target=str(path), source=str(path), type="bind", read_only=True))
    config: dict[str, Any] = {
        "image": image, "name": name, "labels": labels, "user": user, "working_dir": str(store),
        "entrypoint": ["/bin/sh", "-c", WRAPPER],
        "command": [str(logs[0]), str(logs[1]), *worker_argv(store, run_id, program=PROGRAM)],
        "environment": {"HOME": "/tmp", "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2"},
        "mounts": mounts, "network_mode": settings.get("network") or "none", "detach": True,
    }
    if settings.get("cores"):
        config["nano_cpus"] = int(float(settings["cores"]) * 1e9)
    if settings.get("memory_mib"):
        config["mem_limit"] = f"{settings['memory_mib']}m"
    if settings.get("gpus"):
        config["device_requests"] = [DeviceRequest(count=int(settings["gpus"]), capabilities=[["gpu"]])]
    return config


def container_status(state: str, inspected: dict[str, Any] | None = None) -> JobStatus:
    """A container's ``State`` (from the list call) -> JobStatus; exited ones need ``inspect``."""
    if state == "created":
        return JobStatus(RunState.QUEUED, None, "waiting for a free slot")
    if state in ACTIVE:
        return JobStatus(RunState.RUNNING, None, "" if state == "running" else state)
    if state in ("exited", "dead"):
        info = (inspected or {}).get("State", {})
        code = info.get("ExitCode")
        if info.get("OOMKilled"):
            return JobStatus(RunState.FAILED, code, "killed: out of memory (raise the profile's memory)")
        if state == "dead":
            return JobStatus(RunState.FAILED, code, f"container is dead: {info.get('Error') or 'no reason given'}")
        if code == 0:
            return JobStatus(RunState.FINISHED, 0, "")
        if code == 137:  # SIGKILL; Docker does not always set OOMKilled when the kernel's OOM killer acts
            return JobStatus(RunState.FAILED, code, "killed by SIGKILL (exit 137), most likely out of memory "
                             "(raise the profile's memory)")
        return JobStatus(RunState.FAILED, code, info.get("Error") or f"worker exited {code}")
    return JobStatus(RunState.RUNNING, None, f"unknown container state {state!r}")


def to_start(containers: list[dict[str, Any]]) -> list[str]:
    """Ids of queued (created) containers that may start now, batch by batch, in order.

    ``containers``: entries of the list call (``Id``, ``State``, ``Labels``).
    """
    batches: dict[str, list[dict[str, Any]]] = {}
    for c in containers:
        batches.setdefault(c.get("Labels", {}).get(LABEL_BATCH, ""), []).append(c)
    start = []
    for members in batches.values():
        queued = sorted((c for c in members if c.get("State") == "created"),
                        key=lambda c: int(c["Labels"].get(LABEL_ORDER, "0") or 0))
        limit = int(members[0]["Labels"].get(LABEL_LIMIT, "0") or 0)
        active = sum(c.get("State") in ACTIVE for c in members)
        free = len(queued) if limit <= 0 else max(0, limit - active)
        start += [c["Id"] for c in queued[:free]]
    return start
