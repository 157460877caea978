"""Per-trial variables besides the image (behaviour, pupil centre) for the current minibatch.

Some components read more of a trial than its image: a behaviour modulator scales each neuron by a
gain computed from the trial's behaviour variables, a shifter moves every readout position by an
amount computed from the pupil centre. The trainer publishes the rows of those dataset variables
that belong to the batch it is tracing (the same rows as the images, in the same order), and the
components read them here, by the dataset variable's name:

    with side_inputs.published({"behavior": rows, "pupil_center": rows}):
        pred = forward(layers, images, training=True)

Rows are (R, batch, d) (each replica's own minibatch, as the trainer gathers images) or
(batch, d) (the same rows for every replica, as in prediction). A component declares the
variables it reads (``side_inputs()`` on the layer), so a run can check the dataset before
training (:func:`check_available`); a component that finds nothing published fails with a one-line
error naming itself and the missing variable.

A context variable, not a global: replica groups trace their steps from parallel threads
(the same reason as :mod:`.batch_rows`).
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager
from typing import Iterable, Mapping

import tensorflow as tf

from msc_neuro_cli.errors import NeuroError

BEHAVIOR = "behavior"          # static layout: data/behavior/<trial>.npy, e.g. pupil size, its change, running speed
PUPIL_CENTER = "pupil_center"  # static layout: data/pupil_center/<trial>.npy, (x, y)
KNOWN = (BEHAVIOR, PUPIL_CENTER)

_ROWS = contextvars.ContextVar("neuro_side_inputs", default=None)


class SideInputError(NeuroError, ValueError):
    """A component needs a per-trial dataset variable that is not there. (A ValueError too: the
    mixed-precision probe, which traces layers with nothing published, then keeps such a layer in
    float32 instead of failing.)"""


def missing_message(component: str, name: str) -> str:
    return (f"{component}: needs the dataset variable {name!r} (per-trial rows, static layout "
            f"data/{name}/), which this dataset does not provide")


@contextmanager
def published(rows: Mapping[str, object]):
    """Within the block, :func:`read` returns ``rows[name]``; nested blocks add to the outer ones."""
    outer = _ROWS.get() or {}
    token = _ROWS.set({**outer, **rows})
    try:
        yield
    finally:
        _ROWS.reset(token)


def current() -> dict | None:
    """The published rows by name, or None outside any :func:`published` block."""
    return _ROWS.get()


def read(name: str, component: str, replicas: int):
    """The current batch's rows of ``name`` as (replicas, batch, d), float32 unless the forward
    pass computes in a lower precision (the caller casts); raises :class:`SideInputError`."""
    rows = (_ROWS.get() or {}).get(name)
    if rows is None:
        raise SideInputError(missing_message(component, name))
    rows = tf.convert_to_tensor(rows)
    if rows.shape.rank == 2:
        rows = tf.broadcast_to(rows[None], (replicas, tf.shape(rows)[0], tf.shape(rows)[1]))
    elif rows.shape.rank != 3:
        raise SideInputError(f"{component}: rows of {name!r} must be (batch, d) or (replicas, batch, d), "
                             f"got shape {tuple(rows.shape)}")
    return rows


def required(layers) -> dict[str, str]:
    """Dataset variable -> name of the first layer that reads it."""
    needs: dict[str, str] = {}
    for layer in layers:
        for name in getattr(layer, "side_inputs", lambda: ())():
            needs.setdefault(name, layer.name)
    return needs


def check_available(layers, available: Iterable[str]) -> None:
    """Raise :class:`SideInputError` (one line) if a layer reads a variable not in ``available``."""
    have = set(available)
    for name, layer in required(layers).items():
        if name not in have:
            raise SideInputError(missing_message(layer, name))
