"""The docker backend: one container per run through the Docker SDK.

A container runs ``neuro worker`` as the run store's owner (never root), with the store mounted
read-write and the dataset read-only at their host paths, CPU/memory limits and, for GPU profiles,
``device_requests``. All containers of a submission are created at once; ``max_parallel`` (or
``--jobs``) of them start, and each ``poll`` starts more as others end. Every poll collects every
ended neuro container (asked about or not): it records a failure in the run store (the worker
records success itself) and removes the container; a container whose run the store already calls
over is given a few seconds to exit first, since the core stops asking about such runs.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any, ClassVar

from msc_neuro_cli.api import (TERMINAL_STATES, Backend, BackendError, JobStatus, NeuroError, Param, RunId, RunState,
                               RunStore, Submission, memory_mib, memory_param)

from .containers import (LABEL_BATCH, LABEL_LIMIT, LABEL_ORDER, LABEL_RUN, LABEL_STORE, container_config,
                         container_name, container_status, data_paths, memory_mib, to_start)
from .ownership import container_user, hand_over

TERMINAL = ("finished", "failed", "cancelled", "interrupted", "lost")
EXIT_GRACE = 30  # seconds a container may take to exit after its worker recorded the end


def _check_memory(value: str | None) -> str | None:
    try:
        memory_mib(value) if value is not None else None
    except BackendError as exc:
        return str(exc)
    return None


class DockerBackend(Backend):
    description = "Docker containers (CPU and GPU images) through the Docker SDK"
    PARAMS: ClassVar[dict[str, Param]] = {
        "image": Param(str, "neuro:cpu", "image with neuro installed (`make docker` builds neuro:cpu)"),
        "cores": Param(float, None, "CPU limit per container (cores, may be fractional)", minimum=0.01),
        "memory": Param(str, None, "memory limit per container, e.g. 4G", check=_check_memory),
        "gpus": Param(int, 0, "GPUs per container (device_requests; needs the NVIDIA runtime)", minimum=0),
        "max_parallel": Param(int, 0, "containers running at once (0: --jobs, or all)", minimum=0),
        "user": Param(str, None, "UID:GID to run as (default: the run store's owner; never root)"),
        "mounts": Param(list, [], "more host paths to mount read-only at the same path"),
        "network": Param(str, "none", "container network (the worker needs none)"),
        "keep_containers": Param(bool, False, "keep ended containers (debugging) instead of removing them"),
    }

    def __init__(self, name: str, profile: dict[str, Any]):
        given = {k: v for k, v in (profile or {}).items() if k != "backend"}
        try:
            resolved = resolve_params(self.PARAMS, given, lambda key: f"backend profile {name!r}"
                                      + (f", key {key!r}" if key else ""))
        except ValueError as exc:
            raise BackendError(str(exc)) from None
        super().__init__(name, resolved)
        self._client = None

    # --- engine --------------------------------------------------------------------------------
    @property
    def client(self):
        if self._client is None:
            import docker
            try:
                self._client = docker.from_env()
                self._client.ping()
            except docker.errors.DockerException as exc:
                raise BackendError(f"cannot reach the Docker engine ({exc}); is dockerd running "
                                   "and DOCKER_HOST right?") from None
        return self._client

    def _api(self, what: str, call, *args, **kwargs):
        import docker
        try:
            return call(*args, **kwargs)
        except docker.errors.NotFound:
            raise
        except docker.errors.DockerException as exc:
            raise BackendError(f"docker {what} failed: {exc}") from None

    # --- submit --------------------------------------------------------------------------------
    def submit(self, submission: Submission) -> dict[str, str]:
        import docker
        settings = dict(self.profile)
        settings.update({k: v for k, v in (submission.profile or {}).items() if k in self.PARAMS})
        if not submission.run_ids:
            raise BackendError("nothing to submit: no runs")
        store = Path(submission.store).resolve()
        try:
            self.client.images.get(settings["image"])
        except docker.errors.ImageNotFound:
            raise BackendError(f"docker image {settings['image']!r} not found: build it with `make docker` "
                               "(or set `image:` in the profile)") from None
        uid, gid = container_user(settings["user"], store)
        if settings["memory"]:
            settings["memory_mib"] = memory_mib(settings["memory"])
        limit = settings["max_parallel"] or (submission.jobs if submission.jobs > 1 else 0)
        batch = secrets.token_hex(4)
        created: dict[str, Any] = {}
        try:
            self._create(submission, settings, store, (uid, gid), limit, batch, created)
            for container in list(created.values())[: limit or None]:
                self._api("start", container.start)
        except BaseException:
            for container in created.values():  # leave nothing behind that a later poll would start
                try:
                    container.remove(force=True)
                except docker.errors.DockerException:
                    pass
            raise
        return {run: c.name for run, c in created.items()}

    def _create(self, submission: Submission, settings: dict[str, Any], store: Path, owner: tuple[int, int],
                limit: int, batch: str, created: dict[str, Any]) -> None:
        uid, gid = owner
        runs = RunStore(store)
        extra = [Path(p).resolve() for p in settings["mounts"]]
        for order, run in enumerate(submission.run_ids):
            rid = RunId.parse(run)
            try:
                out, err = (Path(p).resolve() for p in submission.log_paths[run])
            except KeyError:
                raise BackendError(f"run {run}: no log paths in the submission") from None
            if store not in out.parents or store not in err.parents:
                raise BackendError(f"run {run}: job logs must lie in the run store {store}")
            hand_over(store, rid, uid, gid)
            labels = {LABEL_RUN: run, LABEL_STORE: str(store), LABEL_BATCH: batch,
                      LABEL_ORDER: str(order), LABEL_LIMIT: str(limit), "neuro.backend": self.name}
            config = container_config(
                image=settings["image"], run_id=run, store=store, logs=(out, err), user=f"{uid}:{gid}",
                read_only=data_paths(runs.read_spec(rid).get("dataset", {})) + extra,
                name=container_name(run, batch), labels=labels, settings=settings)
            created[run] = self._api("create", self.client.containers.create, **config)

    # --- poll / cancel -------------------------------------------------------------------------
    def _listed(self) -> list[dict[str, Any]]:
        """One list call: every neuro container of this engine, ended ones included."""
        return self._api("ps", self.client.api.containers, all=True, filters={"label": LABEL_RUN})

    def poll(self, job_ids: list[str]) -> dict[str, JobStatus]:
        import docker
        listed = self._listed()
        by_id = {c["Id"]: c for c in listed}
        unstartable: dict[str, JobStatus] = {}
        for cid in to_start(listed):
            try:
                self._api("start", self.client.api.start, cid)
                by_id[cid]["State"] = "running"
            except docker.errors.NotFound:
                by_id[cid]["State"] = "gone"
            except BackendError as exc:   # e.g. a GPU profile on a host without the NVIDIA runtime
                unstartable[cid] = JobStatus("failed", None, str(exc))
                self._collect(by_id[cid], unstartable[cid])
        wanted = set(job_ids)
        found: dict[str, JobStatus] = {}
        for c in listed:  # every neuro container: ended ones are collected even if not asked about
            name = (c.get("Names") or ["/"])[0].lstrip("/")
            if c.get("State") == "gone":
                continue
            if c["Id"] in unstartable:
                if name in wanted:
                    found[name] = unstartable[c["Id"]]
                continue
            if c.get("State") == "running" and self._run_over(c):
                c["State"] = self._wait_for_exit(c["Id"])   # the worker has written its end
            inspected = None
            if c.get("State") in ("exited", "dead"):
                try:
                    inspected = self._api("inspect", self.client.api.inspect_container, c["Id"])
                except docker.errors.NotFound:
                    continue
            status = container_status(c.get("State", ""), inspected)
            if name in wanted:
                found[name] = status
            if inspected is not None:
                self._collect(c, status)
        return found

    @staticmethod
    def _run_over(container: dict[str, Any]) -> bool:
        """The run store already calls the container's run finished or failed."""
        labels = container.get("Labels", {})
        try:
            state = RunStore(Path(labels[LABEL_STORE])).read_state(RunId.parse(labels[LABEL_RUN]))
        except (KeyError, OSError, ValueError, NeuroError):
            return False
        return state.get("state") in TERMINAL

    def _wait_for_exit(self, cid: str) -> str:
        """A worker that has recorded its end exits within seconds; wait for that, not longer."""
        import docker
        import requests
        try:
            self.client.api.wait(cid, timeout=EXIT_GRACE)
            return "exited"
        except (requests.exceptions.ConnectionError, requests.exceptions.ReadTimeout):
            return "running"
        except docker.errors.NotFound:
            return "gone"
        except docker.errors.DockerException as exc:
            raise BackendError(f"docker wait failed: {exc}") from None

    def _collect(self, container: dict[str, Any], status: JobStatus) -> None:
        """Record a failed container's end in the run store, then remove the container."""
        import docker
        labels = container.get("Labels", {})
        try:
            store, rid = RunStore(Path(labels[LABEL_STORE])), RunId.parse(labels[LABEL_RUN])
            state = store.read_state(rid)
            if status.state == "failed" and state.get("state") not in TERMINAL:
                store.update_state(rid, state="failed", exit_code=status.exit_code,
                                   error=state.get("error") or status.detail)
        except (KeyError, OSError) as exc:
            raise BackendError(f"container {container.get('Id', '?')[:12]}: cannot record its end "
                               f"in the run store: {exc}") from None
        if not self.profile.get("keep_containers"):
            try:
                self._api("rm", self.client.api.remove_container, container["Id"], force=True)
            except docker.errors.NotFound:
                pass

    def cancel(self, job_ids: list[str]) -> None:
        import docker
        for name in job_ids:
            try:
                info = self._api("inspect", self.client.api.inspect_container, name)
            except docker.errors.NotFound:
                continue
            try:
                self._api("rm", self.client.api.remove_container, name, force=True)
            except docker.errors.NotFound:
                pass
            labels = info.get("Config", {}).get("Labels", {})
            if LABEL_STORE in labels and LABEL_RUN in labels:
                store, rid = RunStore(Path(labels[LABEL_STORE])), RunId.parse(labels[LABEL_RUN])
                if store.read_state(rid).get("state") not in TERMINAL:
                    store.update_state(rid, state="cancelled")
