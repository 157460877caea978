"""Initial values for one replica, drawn from that replica's generator.

NDN3 definitions (layer.py): weights ``normal`` = N(0, 0.1^2); weights ``trunc_normal`` =
|N(0, 0.1^2)|; biases ``trunc_normal`` = N(0, 0.1^2) (not actually truncated); ``zeros``.
``role`` is "weights" or "bias" because NDN3's trunc_normal differs between the two.
"""

import numpy as np


def normal(rng: np.random.Generator, shape, role="weights"):
    return rng.normal(0.0, 0.1, size=shape)


def trunc_normal(rng: np.random.Generator, shape, role="weights"):
    values = rng.normal(0.0, 0.1, size=shape)
    return np.abs(values) if role == "weights" else values


def zeros(rng: np.random.Generator, shape, role="weights"):
    return np.zeros(shape)


def xavier_normal(rng: np.random.Generator, shape, fan_in: int, fan_out: int):
    """N(0, 2 / (fan_in + fan_out)) (Glorot & Bengio 2010; neuralpredictors' cores and MLPs). Not a
    registered initialiser: the fans depend on what the weight is, which only its layer knows."""
    return rng.normal(0.0, np.sqrt(2.0 / (fan_in + fan_out)), size=shape)


INITIALIZERS = {"normal": normal, "trunc_normal": trunc_normal, "zeros": zeros}
