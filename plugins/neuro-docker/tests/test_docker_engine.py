"""The docker backend against the real engine: a stand-in image (the local base image plus a
stand-in `neuro`) runs sweeps in seconds; the real CPU image is checked separately."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from msc_neuro_cli.api import BackendError, RunId, RunStore, Submission
from neuro_docker.backend import DockerBackend
from neuro_docker.containers import LABEL_BATCH, LABEL_RUN

pytestmark = pytest.mark.slow
BASE = os.environ.get("NEURO_BASE_IMAGE", "neuro-base:bookworm")
STANDIN_IMAGE = "neuro-standin:test"
CPU_IMAGE = os.environ.get("NEURO_CPU_IMAGE", "neuro:cpu")
UID = 1000 if os.geteuid() == 0 else os.geteuid()

STANDIN = """\
#!/usr/bin/python3
# stand-in for `neuro worker --store STORE RUN_ID`: reports who and what it sees, then sleeps and
# exits as STORE/standin.json says for the run.
import json, os, sys, time
_, store, run = sys.argv[2], sys.argv[3], sys.argv[4]
plan = json.load(open(os.path.join(store, "standin.json"))).get(run, {})
data = plan.get("data")
print(f"stand-in {run} uid={os.getuid()} data={open(data).read().strip() if data else '-'}", flush=True)
if data:
    try:
        open(data, "a").write("x")
        print("data writable", flush=True)
    except OSError as exc:
        print(f"data read-only: {exc.strerror}", flush=True)
print(f"stand-in stderr {run}", file=sys.stderr, flush=True)
if plan.get("allocate"):
    blob = bytearray(plan["allocate"] * 1024 * 1024)
time.sleep(plan.get("sleep", 0))
sys.exit(plan.get("exit", 0))
"""


@pytest.fixture(scope="module")
def standin_image(docker_client, tmp_path_factory):
    import docker
    try:
        docker_client.images.get(BASE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"base image {BASE} is missing: `.ci/engines/up.sh docker` builds it")
    context = tmp_path_factory.mktemp("standin")
    (context / "neuro").write_text(STANDIN)
    (context / "neuro").chmod(0o755)
    (context / "Dockerfile").write_text(f"FROM {BASE}\nCOPY neuro /usr/local/bin/neuro\n")
    docker_client.images.build(path=str(context), tag=STANDIN_IMAGE, rm=True)
    return STANDIN_IMAGE


def make_store(tmp_path: Path, plan: dict[int, dict], exp: str = "dock") -> tuple[Submission, Path]:
    """A store owned by a non-root user, one spec per run whose dataset is a read-only file."""
    store = tmp_path / "training_data"
    data = tmp_path / "dataset"
    data.mkdir()
    (data / "values.txt").write_text("data-ok\n")
    (data / "values.txt").chmod(0o666)   # writable for everyone: only the read-only mount stops writes
    runs = RunStore(store)
    ids = {}
    for i in plan:
        rid = RunId("dockertest", f"{exp}x{i}", i, exp)
        runs.write_spec(rid, {"dataset": {"name": "x", "params": {"path": "dataset"}, "base_dir": str(tmp_path)}})
        runs.update_state(rid, state="queued")
        ids[i] = str(rid)
    (store / "standin.json").write_text(json.dumps(
        {ids[i]: {**p, "data": str(data / "values.txt")} for i, p in plan.items()}))
    if os.geteuid() == 0:
        os.chown(store, UID, UID)
    logs = {ids[i]: runs.job_logs(RunId.parse(ids[i])) for i in plan}
    return Submission(store=store, run_ids=list(ids.values()), log_paths=logs), store


def follow(backend, names, timeout=60.0):
    seen = []
    deadline = time.monotonic() + timeout
    pending = set(names)
    while pending:
        answer = backend.poll(list(names))
        seen.append(answer)
        pending = {n for n in pending if n in answer and answer[n].state in ("queued", "running")}
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out: {answer}")
        time.sleep(0.3)
    return seen


def containers_of(client, batch_label_value=None, run=None):
    filters = {"label": [LABEL_RUN if run is None else f"{LABEL_RUN}={run}"]}
    return client.api.containers(all=True, filters=filters)


def test_sweep_runs_as_store_owner_with_throttle(docker_client, standin_image, tmp_path):
    sub, store = make_store(tmp_path, {0: {}, 1: {"exit": 3}, 2: {"sleep": 1}})
    backend = DockerBackend("docker", {"image": standin_image, "max_parallel": 1, "cores": 0.5,
                                       "memory": "256M"})
    ids = backend.submit(sub)
    names = [ids[r] for r in sub.run_ids]
    listed = {c["Names"][0].lstrip("/"): c for c in docker_client.api.containers(all=True, filters={
        "label": f"{LABEL_BATCH}={docker_client.api.inspect_container(names[0])['Config']['Labels'][LABEL_BATCH]}"})}
    assert set(listed) == set(names)
    host = docker_client.api.inspect_container(names[0])["HostConfig"]
    assert host["NanoCpus"] == 500_000_000 and host["Memory"] == 256 * 1024 ** 2
    assert host["NetworkMode"] == "none"
    seen = follow(backend, names)
    for answer in seen:
        assert sum(s.state == "running" for s in answer.values()) <= 1
    assert any(a.get(names[2]) and a[names[2]].state == "queued" for a in seen)
    final = {n: s for a in seen for n, s in a.items() if s.state not in ("queued", "running")}
    assert [(final[n].state, final[n].exit_code) for n in names] == [("finished", 0), ("failed", 3), ("finished", 0)]
    runs = RunStore(store)
    assert runs.read_state(RunId.parse(sub.run_ids[1]))["state"] == "queued"   # the core records ends
    assert not containers_of(docker_client, run=sub.run_ids[0])      # removed once reported
    assert backend.poll(names) == {}
    for run in sub.run_ids:
        out, err = sub.log_paths[run]
        lines = out.read_text().splitlines()
        assert lines[0] == f"stand-in {run} uid={UID} data=data-ok"
        assert lines[1] == "data read-only: Read-only file system"
        assert err.read_text() == f"stand-in stderr {run}\n"
        assert out.stat().st_uid == UID


def test_cancel_removes_the_containers(docker_client, standin_image, tmp_path):
    sub, store = make_store(tmp_path, {0: {"sleep": 60}, 1: {}}, exp="cancel")
    backend = DockerBackend("docker", {"image": standin_image, "max_parallel": 1})
    ids = backend.submit(sub)
    names = [ids[r] for r in sub.run_ids]
    assert backend.poll(names)[names[1]].state == "queued"
    backend.cancel(names)
    assert backend.poll(names) == {}
    for run in sub.run_ids:   # `neuro cancel` records the runs as cancelled, not the backend
        assert RunStore(store).read_state(RunId.parse(run))["state"] == "queued"
        assert not containers_of(docker_client, run=run)
    backend.cancel(names)   # again: harmless


def test_out_of_memory_is_reported(docker_client, standin_image, tmp_path):
    sub, store = make_store(tmp_path, {0: {"allocate": 200}}, exp="oom")
    backend = DockerBackend("docker", {"image": standin_image, "memory": "64M"})
    name = backend.submit(sub)[sub.run_ids[0]]
    final = follow(backend, [name])[-1][name]
    assert final.state == "failed" and final.exit_code == 137
    assert "out of memory" in final.detail


def test_gpu_profile_without_a_gpu_runtime_fails_clearly(docker_client, standin_image, tmp_path):
    sub, _ = make_store(tmp_path, {0: {}}, exp="gpu")
    backend = DockerBackend("docker", {"image": standin_image, "gpus": 1})
    with pytest.raises(BackendError, match="docker start failed.*(gpu|device driver)"):
        backend.submit(sub)
    assert not containers_of(docker_client, run=sub.run_ids[0])   # nothing left for a poll to start


def test_refusals(docker_client, standin_image, tmp_path, monkeypatch):
    sub, store = make_store(tmp_path, {0: {}}, exp="refuse")
    with pytest.raises(BackendError, match="not found: build it with `make docker`"):
        DockerBackend("docker", {"image": "neuro:does-not-exist"}).submit(sub)
    if os.geteuid() == 0:
        os.chown(store, 0, 0)
        with pytest.raises(BackendError, match="belongs to root"):
            DockerBackend("docker", {"image": standin_image}).submit(sub)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no.sock")
    with pytest.raises(BackendError, match="cannot reach the Docker engine"):
        DockerBackend("docker", {}).poll(["x"])


def test_cpu_image_runs_neuro(docker_client):
    """The image `make docker` builds (Dockerfile on the local base image in CI)."""
    import docker
    try:
        docker_client.images.get(CPU_IMAGE)
    except docker.errors.ImageNotFound:
        required = os.environ.get("NEURO_REQUIRE_ENGINES", "")
        if required in ("1", "all") or "docker" in required.split(","):
            pytest.fail(f"image {CPU_IMAGE} is missing: build it with `make docker`")
        pytest.skip(f"image {CPU_IMAGE} is not built (`make docker`)")
    out = docker_client.containers.run(CPU_IMAGE, ["--help"], remove=True, network_mode="none").decode()
    assert "worker" in out and "run" in out
    who = docker_client.containers.run(CPU_IMAGE, entrypoint=["id", "-u"], remove=True).decode().strip()
    assert who != "0"


def test_a_queued_container_that_cannot_start_fails_its_run(docker_client, standin_image, tmp_path):
    """A poll starts queued containers; one the engine refuses to start is failed and removed."""
    import docker
    from neuro_docker.containers import LABEL_LIMIT, LABEL_ORDER, LABEL_STORE
    sub, store = make_store(tmp_path, {0: {}}, exp="nostart")
    run = sub.run_ids[0]
    container = docker_client.containers.create(
        standin_image, ["neuro"], name=f"neuro-nostart-{os.getpid()}", labels={
            LABEL_RUN: run, LABEL_STORE: str(store), LABEL_BATCH: "nostart", LABEL_ORDER: "0", LABEL_LIMIT: "0"},
        device_requests=[docker.types.DeviceRequest(count=1, capabilities=[["gpu"]])])
    status = DockerBackend("docker", {}).poll([container.name])[container.name]
    assert status.state == "failed" and "start failed" in status.detail
    assert RunStore(store).read_state(RunId.parse(run))["state"] == "queued"   # reported, not written
    assert not containers_of(docker_client, run=run)


def test_a_run_recorded_as_over_is_collected_once_its_container_exits(docker_client, standin_image, tmp_path):
    """The core stops polling a run its worker recorded as finished; the poll that sees that
    waits the few seconds the container takes to exit and removes it."""
    sub, store = make_store(tmp_path, {0: {"sleep": 2}}, exp="over")
    backend = DockerBackend("docker", {"image": standin_image})
    name = backend.submit(sub)[sub.run_ids[0]]
    RunStore(store).update_state(RunId.parse(sub.run_ids[0]), state="finished")
    started = time.monotonic()
    assert backend.poll([]) == {}                # not asked about it, collected all the same
    assert time.monotonic() - started < 25
    assert not containers_of(docker_client, run=sub.run_ids[0])
    assert name not in backend.poll([name])


def test_an_ended_container_nobody_asked_about_waits_for_the_poll_that_asks(docker_client, standin_image, tmp_path):
    """A failed container of a run still queued in its store is not removed by a poll about other
    jobs (its end would be lost); the poll that asks reports it, then removes it."""
    sub, store = make_store(tmp_path, {0: {"exit": 5}}, exp="unasked")
    backend = DockerBackend("docker", {"image": standin_image})
    name = backend.submit(sub)[sub.run_ids[0]]
    docker_client.api.wait(name, timeout=60)
    assert backend.poll(["some-other-job"]) == {}
    assert containers_of(docker_client, run=sub.run_ids[0])            # still there
    status = backend.poll([name])[name]
    assert (status.state, status.exit_code) == ("failed", 5)
    assert not containers_of(docker_client, run=sub.run_ids[0])
