"""The names neuro_basics registers by reference match the mappings of its modules."""

import neuro_basics
from neuro_basics import activations, initializers, losses, regularizers


def test_registered_names_match_modules():
    assert set(neuro_basics.ACTIVATIONS) == set(activations.ACTIVATIONS)
    assert set(neuro_basics.LOSSES) == set(losses.LOSSES)
    assert set(neuro_basics.REGULARIZERS) == set(regularizers.REGULARIZERS)
    assert set(neuro_basics.INITIALIZERS) == set(initializers.INITIALIZERS)
