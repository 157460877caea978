"""The point Gaussian readout of Lurz et al. (2021) (neuralpredictors' FullGaussian2d).

Neuron n reads the (H, W, C) feature map at one point. It has a position mu_n = (x, y) in the
map's normalised coordinates [-1, 1]^2, a spread factor L_n (2 x 2 lower-triangular; an unconstrained
2 x 2 matrix when ``spread: matrix``; s_n I when ``spread: isotropic``), feature weights f_n (C) and a
bias b_n:

    training:    p = clip(mu_n + L_n e, -1, 1),  e ~ N(0, I) drawn per row (``sample_per: row``) or per
                 minibatch (``batch``), per neuron and replica
    evaluation:  p = clip(mu_n, -1, 1)
    with a shifter: p <- p + shift(pupil centre of the trial)
    y_n = f(sum_c read(map, p)[c] f_n[c] + b_n)

``read`` is bilinear interpolation with ``align_corners=True`` and zeros outside the map
(:mod:`.bilinear`): cost batch x neurons x channels. The sample's covariance is L L^T. After every
optimiser step mu is clipped to [-1, 1] (isotropic s to >= 0).

Noise comes from a counter-based generator (``stateless_normal``) keyed by a per-replica state
(seed, counter): the seed is drawn from the replica's own generator at initialisation, the counter
advances at every training forward pass. So replicas draw independently, a replica trained alone
draws exactly what it draws among others (a key from the weights, as dropout uses, would follow
their last-bit differences between replica counts), and the state travels with the weights
(exports, checkpoints, replica groups) as a non-trainable weight.

Initialisation (the reference's): mu uniform in +-``init_mu_range``, L = ``init_sigma`` I (``matrix``:
every entry uniform in +-``init_sigma``, as the reference draws its 2 x 2 matrix), features
1 / C, bias the mean training response of the neuron (``bias_init: mean_response``, set by the
trainer through ``initialise_from_responses``) or a named initialiser. The shifter, if any, is an
MLP from the pupil centre (x, y) with tanh after every layer (:mod:`.side_mlp`), its output (dx, dy)
added to every neuron's point.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from msc_neuro_cli.api.layers import side_inputs
from msc_neuro_cli.api.layers import ReplicatedLayer
from msc_neuro_cli.api import ManifestError

from .bilinear import read_points
from .params import MEAN_RESPONSE, POINT_GAUSSIAN_PARAMS
from .side_mlp import ReadsSideInputs, mlp_forward, mlp_initial, mlp_shapes, side_rows

SHIFTER = "shifter"
SPREAD_NUMBERS = {"full": 3, "matrix": 4, "isotropic": 1}  # numbers per neuron in the sigma weight


@keras.saving.register_keras_serializable(package="neuro")
class PointGaussianReadout(ReadsSideInputs, ReplicatedLayer):
    PARAMS = POINT_GAUSSIAN_PARAMS

    # ------------------------------------------------------------------ weights
    @property
    def channels(self) -> int:
        return self.input_dims[2]

    def output_dims(self):
        return (1, 1, self.params["units"])

    def weight_shapes(self):
        n = self.params["units"]
        shapes = {"mu": (n, 2), "sigma": (n, SPREAD_NUMBERS[self.params["spread"]]),
                  "features": (self.channels, n), "bias": (n,)}
        if self.params["shifter_layers"]:
            shapes.update(mlp_shapes(SHIFTER, 2, self.params["shifter_hidden"], self.params["shifter_layers"], 2))
        return shapes

    def initial_value(self, name, rng):
        n = self.params["units"]
        if name == "mu":
            r = self.params["init_mu_range"]
            return rng.uniform(-r, r, size=(n, 2))
        if name == "sigma":
            sigma, spread = self.params["init_sigma"], self.params["spread"]
            if spread == "matrix":
                return rng.uniform(-sigma, sigma, size=(n, 4))
            return np.tile([sigma, 0.0, sigma], (n, 1)) if spread == "full" else np.full((n, 1), sigma)
        if name == "features":
            return np.full((self.channels, n), 1.0 / self.channels)
        if name == "bias":
            if self.params["bias_init"] == MEAN_RESPONSE:
                return np.zeros(n)  # replaced by initialise_from_responses when the trainer has data
            return self.initializer(self.params["bias_init"])(rng, (n,), "bias")  # unknown names: a one-line error
        return mlp_initial(self.weight_shapes()[name], rng)

    def build(self, input_shape=None):
        self._vars["noise_state"] = self.add_weight(name="noise_state", shape=(self.replicas, 2), dtype="int32",
                                                    initializer="zeros", trainable=False)
        super().build(input_shape)

    def initialise(self, rngs):
        super().initialise(rngs)
        seeds = [[int(rng.integers(0, 2**31 - 1)), 0] for rng in rngs]
        self._vars["noise_state"].assign(np.asarray(seeds, np.int32))

    def initialise_from_responses(self, mean_response: np.ndarray) -> None:
        """Set every replica's bias to the mean training response (``bias_init: mean_response``)."""
        if self.params["bias_init"] != MEAN_RESPONSE:
            return
        mean = np.asarray(mean_response, np.float32).reshape(-1)
        if mean.size != self.params["units"]:
            raise ManifestError(f"{self.name}: bias_init 'mean_response' needs one unit per neuron "
                                f"({mean.size}), the layer has {self.params['units']}")
        self._vars["bias"].assign(np.tile(mean, (self.replicas, 1)))

    def side_inputs(self) -> tuple[str, ...]:
        return (side_inputs.PUPIL_CENTER,) if self.params["shifter_layers"] else ()

    def constraints(self):
        limits = {"mu": lambda v: tf.clip_by_value(v, -1.0, 1.0)}
        if self.params["spread"] == "isotropic":
            limits["sigma"] = lambda v: tf.maximum(v, 0.0)
        return limits

    def regularized_weights(self, regularizer):
        return [tf.reshape(self.weight("features"), (self.replicas, 1, 1, self.channels, self.params["units"]))]

    # ------------------------------------------------------------------ forward
    def _noise(self, rows):
        """(R, rows, N, 2) standard normal draws, replica r's keyed by its (seed, counter); advances the counter."""
        state = self._vars["noise_state"]
        seeds = tf.identity(state.value)
        state.assign(seeds + tf.constant([0, 1], tf.int32))
        shape = tf.stack([rows, self.params["units"], 2])
        return tf.stack([tf.random.stateless_normal(shape, seed=seeds[r]) for r in range(self.replicas)])

    def _spread(self, noise):
        """L e for noise e (R, rows, N, 2) -> (R, rows, N, 2)."""
        sigma = self.weight("sigma", exact=True)[:, None]           # (R, 1, N, SPREAD_NUMBERS)
        spread = self.params["spread"]
        if spread == "isotropic":
            return noise * sigma
        ex, ey = noise[..., 0], noise[..., 1]
        if spread == "matrix":  # row-major [[a, b], [c, d]]
            return tf.stack([sigma[..., 0] * ex + sigma[..., 1] * ey, sigma[..., 2] * ex + sigma[..., 3] * ey], axis=-1)
        return tf.stack([sigma[..., 0] * ex, sigma[..., 1] * ex + sigma[..., 2] * ey], axis=-1)

    def points(self, batch, training: bool):
        """Read points (R, B or 1, N, 2) as (x, y), before any shift."""
        mu = self.weight("mu", exact=True)[:, None]                  # (R, 1, N, 2)
        if training:
            rows = batch if self.params["sample_per"] == "row" else 1
            mu = mu + self._spread(self._noise(rows))
        return tf.clip_by_value(mu, -1.0, 1.0)

    def shift(self):
        """(R, B, 1, 2): the shifter's output for the current batch's pupil centres."""
        rows = side_rows(self, side_inputs.PUPIL_CENTER, 2, tf.float32)
        return tf.tanh(mlp_forward(self, SHIFTER, rows, self.params["shifter_layers"], tf.tanh))[:, :, None, :]

    def forward(self, x, training):
        height, width, channels = self.input_dims
        batch = tf.shape(x)[1]
        fmap = tf.reshape(x, (self.replicas, batch, height, width, channels))
        points = self.points(batch, training)
        if self.params["shifter_layers"]:
            points = points + self.shift()
        points = tf.broadcast_to(points, tf.stack([self.replicas, batch, self.params["units"], 2]))
        values = read_points(fmap, points[..., 0], points[..., 1])      # (R, B, N, C)
        features = tf.transpose(self.weight("features"), [0, 2, 1])[:, None]  # (R, 1, N, C)
        return tf.reduce_sum(values * features, axis=-1) + self.weight("bias")[:, None, :]
