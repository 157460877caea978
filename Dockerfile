# neuro CPU image: runs `neuro worker` (ENTRYPOINT neuro) with tensorflow-cpu, the project and every
# plugin under plugins/ but the optional ones in .dockerignore. The base image is a build argument,
# so the same file builds on a machine that can pull python:3.11-slim and on one that cannot (a
# locally made Debian 12 base, see .ci/engines/docker.sh). BuildKit is required (RUN --mount).
# Behind a TLS-intercepting proxy, hand pip the CA bundle as a build secret; it is used only while
# pip runs and is not kept in the image:
#
#   DOCKER_BUILDKIT=1 docker build -t neuro:cpu \
#       [--build-arg BASE_IMAGE=neuro-base:bookworm] \
#       [--secret id=ca,src=/etc/ssl/certs/ca-certificates.crt] .
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV VIRTUAL_ENV=/opt/neuro \
    PATH=/opt/neuro/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    HOME=/tmp \
    MPLCONFIGDIR=/tmp \
    TF_CPP_MIN_LOG_LEVEL=2

RUN python3 -m venv /opt/neuro
WORKDIR /opt/neuro-src

# Every pinned third-party package (tensorflow-cpu included) in its own layer, so a change to
# the code reinstalls only the project's own packages.
COPY requirements/constraints.txt requirements/constraints.txt
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca SSL_CERT_FILE=/run/secrets/ca; fi; \
    pip install -r requirements/constraints.txt 'setuptools>=68' wheel

# The project and its plugins, offline: `pip check` fails the build if a pin is missing.
COPY pyproject.toml README.md ./
COPY msc_neuro_cli msc_neuro_cli
COPY plugins plugins
RUN pip install --no-deps --no-build-isolation --no-index '.[cpu]' plugins/*/ \
    && pip check \
    && neuro --help > /dev/null

# The docker backend runs containers as the run store's owner (--user UID:GID); this default keeps
# a hand-started container off root as well.
USER 1000:1000
WORKDIR /tmp
ENTRYPOINT ["neuro"]
CMD ["--help"]
