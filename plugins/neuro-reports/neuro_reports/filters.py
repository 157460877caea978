"""Spatial filters of a saved model, as image stacks for the filter grids.

A saved repetition (``models/.../{name}__{rep}.keras``) is a plain Keras model whose layers are
the run's components with a replica axis of 1. Loading it needs the components' classes, which
``msc_neuro_cli.api.load_model`` imports from every component plugin first. Filters are found by
what a layer holds, not by its component name:

- a layer with a ``filters()`` method, which renders its parameters as filters: ``diff_of_gaussians``
  (8 x K parameters through ``neuro_frontends.dog.dog_filters`` on the input grid, (1, y*x, K))
  -> (K, y, x); ``conv_diff_of_gaussians`` (kernels (1, c, c, 1, K)) -> (K, c, c);
- a convolution kernel, ``kernel`` of shape (1, c, c, channels, K) -> (K, c, c) (channels summed
  when there are several: only the first layer's are images);
- a dense layer reading an image (input_dims y, x > 1) -> its first units' weights as (K, y, x).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from msc_neuro_cli.api import load_model as load_saved


MAX_UNITS = 32  # at most this many filters of one layer in a grid


@dataclass
class FilterSet:
    layer: str        # layer name in the saved model
    component: str    # class name
    kind: str         # "dog", "conv" or "dense"
    images: np.ndarray  # (K, y, x)


def load_model(path: Path):
    """A saved repetition's Keras model (the core's loader registers the plugins' layers)."""

    return load_saved(path)


def model_filters(model) -> list[FilterSet]:
    """Every layer's spatial filters, in layer order."""
    found = []
    for layer in model.layers:
        dims = getattr(layer, "input_dims", None)
        if dims is None:
            continue
        y, x, channels = (int(d) for d in dims)
        weights = {w.path.split("/")[-1]: np.asarray(w.numpy()) for w in layer.weights}
        if callable(getattr(layer, "filters", None)):
            rendered = np.asarray(layer.filters())[0]
            if rendered.ndim == 2 and rendered.shape[0] == y * x:    # (y*x, K) on the input grid
                found.append(FilterSet(layer.name, type(layer).__name__, "dog",
                                       rendered.T.reshape(-1, y, x)[:MAX_UNITS]))
            elif rendered.ndim == 4:                                  # (c, c, channels, K) kernels
                found.append(FilterSet(layer.name, type(layer).__name__, "conv-dog",
                                       np.moveaxis(rendered.sum(axis=2), -1, 0)[:MAX_UNITS]))
            continue
        kernel = weights.get("kernel")
        if kernel is None:
            continue
        if kernel.ndim == 5:                                  # (1, c, c, channels, K)
            images = kernel[0].sum(axis=2)                    # (c, c, K)
            found.append(FilterSet(layer.name, type(layer).__name__, "conv",
                                   np.moveaxis(images, -1, 0)[:MAX_UNITS]))
        elif kernel.ndim == 3 and y > 1 and x > 1 and channels == 1 and kernel.shape[1] == y * x:
            found.append(FilterSet(layer.name, type(layer).__name__, "dense",
                                   kernel[0].T.reshape(-1, y, x)[:MAX_UNITS]))
    return found
