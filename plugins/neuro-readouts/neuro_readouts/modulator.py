"""A behaviour modulator: a positive per-neuron gain from the trial's behaviour variables.

Placed after a readout (whose activation is then ``lin``), it multiplies each neuron's drive by a
gain computed from the current trial's behaviour rows b (d values: in the static layout pupil
dilation, its derivative and running speed) by a small MLP (:mod:`.side_mlp`, ReLU between layers):

    g = ELU(MLP(b)) + 1 > 0            (N gains per trial)
    y_n = f(x_n g_n)

The output activation f (``elu1`` for the field's standard model) goes on this component. The rows
come from ``msc_neuro_cli.engine.side_inputs`` (dataset variable ``behavior``); without them the
forward pass fails with a one-line error naming this component.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from msc_neuro_cli.api.layers import side_inputs
from msc_neuro_cli.api.layers import ReplicatedLayer

from .params import MODULATOR_PARAMS
from .side_mlp import ReadsSideInputs, mlp_forward, mlp_initial, mlp_shapes, side_rows

PREFIX = "gain"


@keras.saving.register_keras_serializable(package="neuro")
class BehaviorModulator(ReadsSideInputs, ReplicatedLayer):
    PARAMS = MODULATOR_PARAMS

    def output_dims(self):
        return self.input_dims

    def weight_shapes(self):
        return mlp_shapes(PREFIX, self.params["behavior_variables"], self.params["hidden"],
                          self.params["layers"], self.in_features)

    def initial_value(self, name, rng):
        return mlp_initial(self.weight_shapes()[name], rng)

    def side_inputs(self) -> tuple[str, ...]:
        return (side_inputs.BEHAVIOR,)

    def regularized_weights(self, regularizer):
        last = self.weight(f"{PREFIX}_w{self.params['layers'] - 1}")
        return [tf.reshape(last, (self.replicas, 1, 1, last.shape[1], last.shape[2]))]

    def gain(self, dtype):
        """(R, B, N) positive gains for the current batch."""
        rows = side_rows(self, side_inputs.BEHAVIOR, self.params["behavior_variables"], dtype)
        return tf.nn.elu(mlp_forward(self, PREFIX, rows, self.params["layers"], tf.nn.relu)) + 1.0

    def forward(self, x, training):
        return x * self.gain(x.dtype)
