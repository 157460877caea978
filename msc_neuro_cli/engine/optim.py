"""Adam on replicated weights, written out so it runs inside one XLA-compiled loop.

Same update as TF1's ``tf.train.AdamOptimizer`` that NDN3 used (beta1 0.9, beta2 0.999,
epsilon 1e-8 added to sqrt(v), bias correction folded into the step size). It is elementwise, so
replicas never mix.
"""

from __future__ import annotations

import tensorflow as tf


class ReplicatedAdam:
    def __init__(self, variables, learning_rate: float, beta1: float = 0.9, beta2: float = 0.999,
                 epsilon: float = 1e-8):
        self.variables = list(variables)
        self.lr, self.beta1, self.beta2, self.epsilon = learning_rate, beta1, beta2, epsilon
        self.m = [tf.Variable(tf.zeros_like(v), trainable=False) for v in self.variables]
        self.v = [tf.Variable(tf.zeros_like(v), trainable=False) for v in self.variables]
        self.step = tf.Variable(0.0, trainable=False, dtype=tf.float32)
        # Per-replica learning-rate factor: early stopping decays it, or sets it to 0 to freeze a
        # replica whose training has ended while the others go on.
        replicas = int(self.variables[0].shape[0]) if self.variables else 1
        self.lr_scale = tf.Variable(tf.ones((replicas,)), trainable=False)

    def apply(self, grads) -> None:
        self.step.assign_add(1.0)
        t = self.step
        step_size = self.lr * tf.sqrt(1.0 - self.beta2 ** t) / (1.0 - self.beta1 ** t)
        for var, g, m, v in zip(self.variables, grads, self.m, self.v):
            m.assign(self.beta1 * m + (1.0 - self.beta1) * g)
            v.assign(self.beta2 * v + (1.0 - self.beta2) * tf.square(g))
            scale = tf.reshape(self.lr_scale, [-1] + [1] * (len(var.shape) - 1))
            var.assign_sub(step_size * scale * m / (tf.sqrt(v) + self.epsilon))

    def state(self) -> dict:
        return {"m": [m.numpy() for m in self.m], "v": [v.numpy() for v in self.v],
                "step": float(self.step.numpy()), "lr_scale": self.lr_scale.numpy()}

    def load_state(self, state: dict) -> None:
        for slot, values in ((self.m, state["m"]), (self.v, state["v"])):
            for var, value in zip(slot, values):
                var.assign(value)
        self.step.assign(state["step"])
        if state.get("lr_scale") is not None:
            self.lr_scale.assign(state["lr_scale"])
