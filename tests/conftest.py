"""Shared fixtures of the core tests; the helpers themselves live in msc_neuro_cli.testing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from msc_neuro_cli.testing import TINY_MANIFEST, write_tiny_dataset

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def tiny_data(tmp_path) -> Path:
    return write_tiny_dataset(tmp_path / "tinydata")


@pytest.fixture
def tiny_manifest(tmp_path, tiny_data) -> Path:
    path = tmp_path / "experiments.yaml"
    path.write_text(TINY_MANIFEST.format(data=tiny_data))
    return path
