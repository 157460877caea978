"""Docker engine access for the docker backend tests (started by .ci/engines/up.sh docker)."""

from __future__ import annotations

import os

import pytest


def require_docker():
    """A docker client for a running engine, or skip; fail instead where NEURO_REQUIRE_ENGINES
    names docker (CI)."""
    import docker
    try:
        client = docker.from_env()
        client.ping()
        return client
    except docker.errors.DockerException as exc:
        reason = f"the Docker engine is not running ({exc})"
    required = os.environ.get("NEURO_REQUIRE_ENGINES", "")
    if required in ("1", "all") or "docker" in required.split(","):
        pytest.fail(f"{reason}; start it with `.ci/engines/up.sh docker`")
    pytest.skip(f"{reason}; start it with `sudo .ci/engines/up.sh docker`")


@pytest.fixture(scope="session")
def docker_client():
    return require_docker()


@pytest.fixture
def cpu_image(docker_client) -> str:
    """The CPU image the end-to-end tests run (NEURO_CPU_IMAGE, default neuro:cpu); fail if missing."""
    import docker
    image = os.environ.get("NEURO_CPU_IMAGE", "neuro:cpu")
    try:
        docker_client.images.get(image)
    except docker.errors.ImageNotFound:
        pytest.fail(f"image {image} is missing: build it with `make docker`")
    return image
