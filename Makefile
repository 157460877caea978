# neuro: developer and user entry points. `make demo` and `make test` create .venv when missing.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PLUGINS := $(sort $(wildcard plugins/*/pyproject.toml))
PIP_INSTALL := $(BIN)/pip install --disable-pip-version-check -q -c requirements/constraints.txt -c requirements/tracking.txt \
	-c requirements/search.txt

.PHONY: install demo test bench lint engines-up engines-down docker docker-gpu clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements/constraints.txt requirements/tracking.txt requirements/search.txt $(PLUGINS)
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (neuro needs Python 3.11)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -e '.[cpu,test,report]' $(foreach p,$(PLUGINS),-e $(dir $(p)))
	$(BIN)/pip check
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/neuro run demo --jobs 2

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/bench_trainer.py

# Real engines for the backend tests (Docker, single-node Slurm, Grid Engine); needs root.
engines-up:
	bash .ci/engines/up.sh $(ENGINES)

engines-down:
	bash .ci/engines/down.sh $(ENGINES)

# Images for the docker backend. BASE_IMAGE overrides the base (e.g. neuro-base:bookworm made by
# engines-up where no registry is reachable); CA_BUNDLE passes a CA bundle to pip as a build secret.
DOCKER ?= $(shell test -x /usr/bin/docker && echo /usr/bin/docker || echo docker)
comma := ,
DOCKER_BUILD = DOCKER_BUILDKIT=1 $(DOCKER) build $(if $(BASE_IMAGE),--build-arg BASE_IMAGE=$(BASE_IMAGE)) $(if $(CA_BUNDLE),--secret id=ca$(comma)src=$(CA_BUNDLE))

docker:
	$(DOCKER_BUILD) -t neuro:cpu .

docker-gpu:
	$(DOCKER_BUILD) -f Dockerfile.gpu -t neuro:gpu .

clean:
	rm -rf $(VENV) training_data
