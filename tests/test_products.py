"""engine/products: the custom-gradient products equal the plain product and its exact gradients.

Checked eagerly, in a graph, and compiled by XLA with the engine's hint active (where the
transposes go through XLA's optimisation barrier), against numpy's own formulas.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from msc_neuro_cli.engine import xla_hints
from msc_neuro_cli.engine.products import batched_product, dense_product, image_product

RNG = np.random.default_rng(3)


def _arrays(*shapes):
    return [RNG.normal(size=s).astype(np.float32) for s in shapes]


def _value_and_grads(fn, a, b, upstream, mode):
    """fn(a, b) and d sum(fn * upstream) / d(a, b), run in ``mode``."""
    def run(a, b):
        with xla_hints.compiling_with_xla(mode == "xla"):
            with tf.GradientTape() as tape:
                tape.watch([a, b])
                out = fn(a, b)
                objective = tf.reduce_sum(out * upstream)
            return (out, *tape.gradient(objective, [a, b]))
    if mode != "eager":
        run = tf.function(run, jit_compile=mode == "xla")
    return [t.numpy() for t in run(tf.constant(a), tf.constant(b))]


CASES = {
    # name: (product, operand shapes, numpy forward, numpy gradients given upstream u)
    "dense": (dense_product, [(3, 16, 9), (3, 9, 20)],
              lambda a, b: a @ b,
              lambda a, b, u: (u @ np.swapaxes(b, -1, -2), np.swapaxes(a, -1, -2) @ u)),
    "image": (image_product, [(3, 16, 49), (3, 5, 49)],
              lambda x, f: x @ np.swapaxes(f, -1, -2),
              lambda x, f, u: (u @ f, np.swapaxes(u, -1, -2) @ x)),
    "batched": (batched_product, [(3, 4, 7, 2), (3, 4, 2, 6)],
                lambda a, b: a @ b,
                lambda a, b, u: (u @ np.swapaxes(b, -1, -2), np.swapaxes(a, -1, -2) @ u)),
}


@pytest.mark.parametrize("mode", ["eager", "graph", "xla"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_products_and_gradients_match_numpy(name, mode):
    product, shapes, forward, gradients = CASES[name]
    a, b = _arrays(*shapes)
    expected = forward(a.astype(np.float64), b.astype(np.float64))
    upstream = RNG.normal(size=expected.shape).astype(np.float32)
    out, da, db = _value_and_grads(product, a, b, upstream, mode)
    ea, eb = gradients(a.astype(np.float64), b.astype(np.float64), upstream.astype(np.float64))
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
    assert da.shape == a.shape and db.shape == b.shape  # the barrier's list must not add an axis
    np.testing.assert_allclose(da, ea, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(db, eb, rtol=1e-4, atol=1e-4)


def test_materialized_is_the_identity_and_only_uses_the_barrier_under_xla():
    x = tf.constant(_arrays((2, 3))[0])
    assert xla_hints.materialized(x) is x  # outside a compiled step: untouched

    @tf.function(jit_compile=True)
    def compiled(x):
        with xla_hints.compiling_with_xla(True):
            return xla_hints.materialized(tf.transpose(x)) * 2.0

    np.testing.assert_array_equal(compiled(x).numpy(), 2.0 * x.numpy().T)
    graph = tf.function(lambda x: xla_hints.materialized(x)).get_concrete_function(x).graph
    assert not any("Barrier" in op.type for op in graph.get_operations())
