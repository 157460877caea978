"""docs/components.md documents every registered component, its keys, and every function registry."""

import re
from pathlib import Path

import pytest

from msc_neuro_cli.api import installed_registries as registries

DOCS = Path(__file__).resolve().parents[3] / "docs" / "components.md"
COMP = registries().components


@pytest.fixture(scope="module")
def text():
    return DOCS.read_text()


@pytest.mark.parametrize("name", COMP.layers.names())
def test_every_component_has_a_section_and_its_keys(text, name):
    assert re.search(rf"^### `{name}`", text, re.M), f"docs/components.md has no section for {name}"
    for key in COMP.layers.get(name).PARAMS:
        assert f"`{key}`" in text, f"{name}.{key} is not documented in docs/components.md"


@pytest.mark.parametrize("kind", ["regularizers", "activations", "losses", "initializers"])
def test_every_function_is_named(text, kind):
    for name in getattr(COMP, kind).names():
        assert f"`{name}`" in text, f"{kind[:-1]} {name} is not documented in docs/components.md"
