"""Test helpers of the built-in component plugins: a numpy reference convolution.

The component contract kit (build, run, assert_replicas_independent, assert_export_roundtrip,
synthetic_data, make_trainer, smoke_train) lives in the plugin API, :mod:`msc_neuro_cli.api.testing`;
it is re-exported here for the tests that import it from this module.
"""

from __future__ import annotations

import math

import numpy as np

from msc_neuro_cli.api.testing import (assert_export_roundtrip, assert_replicas_independent, build,  # noqa: F401
                                       make_trainer, run, smoke_train, synthetic_data)


def numpy_conv(image, kernel, stride: int = 1, padding: str = "same") -> np.ndarray:
    """Reference: cross-correlation of one (y, x, c) image with (kh, kw, c, K), TF's SAME/VALID rules."""
    (h, w, _), (kh, kw, _, k) = image.shape, kernel.shape
    if padding == "same":
        oh, ow = math.ceil(h / stride), math.ceil(w / stride)
        ph, pw = max((oh - 1) * stride + kh - h, 0), max((ow - 1) * stride + kw - w, 0)
        image = np.pad(image, [(ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)])
    else:
        oh, ow = math.ceil((h - kh + 1) / stride), math.ceil((w - kw + 1) / stride)
    out = np.zeros((oh, ow, k))
    for i in range(oh):
        for j in range(ow):
            patch = image[i * stride:i * stride + kh, j * stride:j * stride + kw]
            out[i, j] = np.tensordot(patch, kernel, axes=3)
    return out
