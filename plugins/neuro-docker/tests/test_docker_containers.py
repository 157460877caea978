"""Pure parts of the docker backend: container configuration, states, throttling, profiles."""

import os

import pytest

from msc_neuro_cli.api import BackendError, worker_argv
from neuro_docker.backend import DockerBackend
from neuro_docker.containers import (LABEL_BATCH, LABEL_LIMIT, LABEL_ORDER, WRAPPER, container_config,
                                     container_name, container_status, data_paths, to_start)
from neuro_docker.ownership import container_user


def test_container_config(tmp_path):
    store, data = tmp_path / "store", tmp_path / "data"
    config = container_config(
        image="neuro:cpu", run_id="f/ex3", store=store, logs=(store / "o_3.log", store / "e_3.log"),
        user="1000:1000", read_only=[data, data], name="n", labels={"a": "b"},
        settings={"cores": 1.5, "memory_mib": 2048, "gpus": 2, "network": "none"})
    assert config["entrypoint"] == ["/bin/sh", "-c", WRAPPER]
    assert config["command"] == [str(store / "o_3.log"), str(store / "e_3.log"),
                                 *worker_argv(store, "f/ex3", program=["neuro"])]
    assert config["command"][2:] == ["neuro", "worker", "--store", str(store), "f/ex3"]
    assert config["user"] == "1000:1000" and config["network_mode"] == "none"
    assert config["nano_cpus"] == 1_500_000_000 and config["mem_limit"] == "2048m"
    mounts = [(m["Source"], m["Target"], m["ReadOnly"]) for m in config["mounts"]]
    assert mounts == [(str(store), str(store), False), (str(data), str(data), True)]
    request = config["device_requests"][0]
    assert request["Count"] == 2 and request["Capabilities"] == [["gpu"]]
    plain = container_config(image="i", run_id="f/e", store=store, logs=(store / "o", store / "e"),
                             user="1:1", read_only=[], name="n", labels={}, settings={})
    assert not {"nano_cpus", "mem_limit", "device_requests"} & set(plain)


def test_wrapper_keeps_values_out_of_the_shell_text(tmp_path):
    """The wrapper run by a real /bin/sh with hostile values: they stay single arguments."""
    import subprocess
    import sys
    fake = tmp_path / "neuro"
    fake.write_text(f"#!{sys.executable}\nimport sys; print(sys.argv[1:])\n")
    fake.chmod(0o755)
    out, err = tmp_path / "o dir" / "o.log", tmp_path / "e.log"
    store = "/st ore/$(touch /tmp/pwned)'\""
    subprocess.run(["/bin/sh", "-c", WRAPPER, str(out), str(err), *worker_argv(store, "f/ex1", program=[str(fake)])],
                   check=True)
    assert out.read_text() == f"{['worker', '--store', store, 'f/ex1']}\n"


def test_names_and_data_paths(tmp_path):
    assert container_name("folder/bs4_exp5x3", "ab12") == "neuro-folder-bs4_exp5x3-ab12"
    assert container_name("f/a[1,2]x0", "x") == "neuro-f-a-1-2-x0-x"
    (tmp_path / "data").mkdir()
    (tmp_path / "file.h5").write_text("")
    found = data_paths({"base_dir": str(tmp_path), "params": {
        "path": "data", "h5": str(tmp_path / "file.h5"), "regions": [1, 2], "missing": "nope", "mode": "x"}})
    assert found == [(tmp_path / "data").resolve(), (tmp_path / "file.h5").resolve()]


@pytest.mark.parametrize("state, inspected, expected", [
    ("created", None, ("queued", None)), ("running", None, ("running", None)),
    ("paused", None, ("running", None)), ("restarting", None, ("running", None)),
    ("exited", {"State": {"ExitCode": 0}}, ("finished", 0)),
    ("exited", {"State": {"ExitCode": 3}}, ("failed", 3)),
    ("exited", {"State": {"ExitCode": 137, "OOMKilled": True}}, ("failed", 137)),
    ("exited", {"State": {"ExitCode": 137, "OOMKilled": False}}, ("failed", 137)),
    ("dead", {"State": {"ExitCode": -1, "Error": "driver failed"}}, ("failed", -1)),
])
def test_container_status(state, inspected, expected):
    status = container_status(state, inspected)
    assert (status.state, status.exit_code) == expected
    if inspected and inspected["State"].get("ExitCode") == 137:
        # OOMKilled is not always set by Docker when the kernel's OOM killer acts: 137 says SIGKILL
        assert "out of memory" in status.detail


def test_to_start_respects_each_batch_limit_and_order():
    def c(cid, state, batch, order, limit):
        return {"Id": cid, "State": state,
                "Labels": {LABEL_BATCH: batch, LABEL_ORDER: str(order), LABEL_LIMIT: str(limit)}}
    listed = [c("a0", "exited", "a", 0, 2), c("a1", "running", "a", 1, 2), c("a3", "created", "a", 3, 2),
              c("a2", "created", "a", 2, 2), c("b0", "created", "b", 0, 0), c("b1", "created", "b", 1, 0),
              c("c0", "running", "c", 0, 1), c("c1", "created", "c", 1, 1)]
    assert to_start(listed) == ["a2", "b0", "b1"]



def test_container_user(tmp_path):
    assert container_user("1000:100", tmp_path) == (1000, 100)
    with pytest.raises(BackendError, match="UID:GID"):
        container_user("alice", tmp_path)
    with pytest.raises(BackendError, match="non-root"):
        container_user("0:0", tmp_path)
    if os.geteuid() == 0:
        os.chown(tmp_path, 1234, 1234)
        assert container_user(None, tmp_path) == (1234, 1234)
        os.chown(tmp_path, 0, 0)
        with pytest.raises(BackendError, match="belongs to root"):
            container_user(None, tmp_path)
    else:
        assert container_user(None, tmp_path) == (os.geteuid(), os.getegid())


@pytest.mark.parametrize("profile, key", [({"cores": 0}, "cores"), ({"memory": "1K"}, "memory"),
                                          ({"gpu": 1}, "gpu"), ({"keep_containers": "yes"}, "keep_containers")])
def test_bad_profiles_name_the_key(profile, key):
    with pytest.raises(BackendError, match=f"profile 'docker', key '{key}'"):
        DockerBackend("docker", profile)
