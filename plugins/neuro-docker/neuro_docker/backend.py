"""The docker backend: one container per run through the Docker SDK.

A container runs ``neuro worker`` as the run store's owner (never root), with the store mounted
read-write and the dataset read-only at their host paths, CPU/memory limits and, for GPU profiles,
``device_requests``. All containers of a submission are created at once; ``max_parallel`` (or
``--jobs``) of them start, and each ``poll`` starts more as others end. A poll reports the
containers it is asked about and removes the ended ones it reported (the core records a failure
in the run store; the worker records success itself). Ended containers it was not asked about are
removed once the store calls their run over (a container whose run is over is given a few seconds
to exit first, since the core stops asking about such runs); others wait for a poll that asks.
The backend reads the store but never writes a run's state.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any, ClassVar

from msc_neuro_cli.api import (TERMINAL_STATES, Backend, BackendError, JobStatus, NeuroError, Param, RunId, RunState,
                               RunStore, Submission, memory_mib, memory_param)

from .containers import (LABEL_BATCH, LABEL_LIMIT, LABEL_ORDER, LABEL_RUN, LABEL_STORE, MIN_MEMORY_MIB,
                         container_config, container_name, container_status, data_paths, to_start)
from .ownership import container_user, hand_over

EXIT_GRACE = 30  # seconds a container may take to exit after its worker recorded the end


class DockerBackend(Backend):
    description = "Docker containers (CPU and GPU images) through the Docker SDK"
    PARAMS: ClassVar[dict[str, Param]] = {
        "image": Param(str, "neuro:cpu", "image with neuro installed (`make docker` builds neuro:cpu)"),
        "cores": Param(float, None, "CPU limit per container (cores, may be fractional)", minimum=0.01),
        "memory": memory_param("memory limit per container, e.g. 4G", least=MIN_MEMORY_MIB),
        "gpus": Param(int, 0, "GPUs per container (device_requests; needs the NVIDIA runtime)", minimum=0),
        "max_parallel": Param(int, 0, "containers running at once (0: --jobs, or all)", minimum=0),
        "user": Param(str, None, "UID:GID to run as (default: the run store's owner; never root)"),
        "mounts": Param(list, [], "more host paths to mount read-only at the same path"),
        "network": Param(str, "none", "container network (the worker needs none)"),
        "keep_containers": Param(bool, False, "keep ended containers (debugging) instead of removing them"),
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
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
            settings["memory_mib"] = memory_mib(settings["memory"], least=MIN_MEMORY_MIB)
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
                unstartable[cid] = JobStatus(RunState.FAILED, None, str(exc))
        wanted = set(job_ids)
        found: dict[str, JobStatus] = {}
        for c in listed:
            name = (c.get("Names") or ["/"])[0].lstrip("/")
            if c.get("State") == "gone":
                continue
            if c["Id"] in unstartable:   # not asked about: left for the poll that asks (it retries)
                if name in wanted:
                    found[name] = unstartable[c["Id"]]
                    self._remove(c["Id"])
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
            if inspected is not None and (name in wanted or self._run_over(c)):
                self._remove(c["Id"])   # reported (the core records it) or its run is over
        return found

    @staticmethod
    def _run_over(container: dict[str, Any]) -> bool:
        """The run store already calls the container's run finished or failed."""
        labels = container.get("Labels", {})
        try:
            state = RunStore(Path(labels[LABEL_STORE])).read_state(RunId.parse(labels[LABEL_RUN]))
        except (KeyError, OSError, ValueError, NeuroError):
            return False
        return state.get("state") in TERMINAL_STATES

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

    def _remove(self, cid: str) -> None:
        """Remove an ended container (unless the profile keeps them for debugging)."""
        import docker
        if not self.profile.get("keep_containers"):
            try:
                self._api("rm", self.client.api.remove_container, cid, force=True)
            except docker.errors.NotFound:
                pass

    def cancel(self, job_ids: list[str]) -> None:
        """Stop and remove the containers (the core records the runs as cancelled)."""
        import docker
        for name in job_ids:
            try:
                self._api("rm", self.client.api.remove_container, name, force=True)
            except docker.errors.NotFound:
                pass
