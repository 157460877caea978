"""Fixtures of the cluster backend tests: a running engine or a skip (see cluster_engine_access)."""

import pytest

from cluster_engine_access import require_engine


@pytest.fixture
def sge_engine(monkeypatch):
    require_engine("sge", monkeypatch)


@pytest.fixture
def slurm_engine(monkeypatch):
    require_engine("slurm", monkeypatch)
