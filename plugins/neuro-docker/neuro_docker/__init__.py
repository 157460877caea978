"""neuro plugin: the ``docker`` backend, one container per run through the Docker SDK."""

from msc_neuro_cli.api import hookimpl

from .backend import DockerBackend

# The thesis pipeline's docker runner, CPU and GPU; `make docker` / `make docker-gpu` build the images.
PROFILES = {
    "docker": {"backend": "docker", "image": "neuro:cpu"},
    "docker-gpu": {"backend": "docker", "image": "neuro:gpu", "gpus": 1},
}


@hookimpl
def register_backends(registry):
    registry.add("docker", DockerBackend)
    for name, settings in PROFILES.items():
        registry.add_profile(name, settings)
