"""The field's standard convolutional core (neuralpredictors' Stacked2dCore, Lurz et al. 2021).

L layers of C channels. Layer 0 is a k x k convolution of the image (``input_padding``, default
valid, no bias); layers 1 .. L-1 keep the map's size ('same' padding, odd k') and are

    separable:  pointwise C -> C, depthwise k' x k', pointwise C -> C (neuralpredictors'
                DepthSeparableConv2d, the standard model's hidden layers)
    depthwise:  depthwise k' x k', then pointwise C -> C
    full:       a full k' x k' x C x C convolution

Every layer is followed by batch normalisation (per replica and channel; training: statistics of
the minibatch without the padding rows of a kept partial batch, evaluation: moving averages,
m <- momentum m + (1 - momentum) batch value) and the ``nonlinearity`` (ELU), the last layer's
only if ``final_nonlinearity``. The output is the channel concatenation of the layers chosen by
``stack`` (-1: the last; -2: the last two; a list: those indices). Regularisers act on the first
layer's filters (C_in, C) as (k, k, C_in, C): ``laplace_l2norm`` is the field's penalty.

Weights start Xavier-normal with PyTorch's fan rules (neuralpredictors' cores), gamma 1, beta 0.
The convolutions are the replicated ops of :mod:`.conv_ops`.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from msc_neuro_cli.api.layers import ReplicatedLayer
from msc_neuro_cli.api import ManifestError
from neuro_basics.initializers import xavier_normal
from neuro_basics.layer_ops import as_image, conv_output_size, flatten_image

from .conv_bn import batch_normalise
from .conv_ops import depthwise_conv, first_conv, full_conv, pointwise_conv, pointwise_depthwise
from .params import STACKED_CORE_PARAMS


@keras.saving.register_keras_serializable(package="neuro")
class StackedCore(ReplicatedLayer):
    PARAMS = STACKED_CORE_PARAMS

    def __init__(self, params, input_dims, replicas=1, **kwargs):
        super().__init__(params, input_dims, replicas, **kwargs)
        y, x, _ = self.input_dims
        if min(self._map_size()) < 1:
            raise ManifestError(f"{self.name}: a {self.params['input_width']}x{self.params['input_width']} "
                                f"'valid' convolution does not fit the {y}x{x} input")
        layers = self.params["layers"]
        if any(not -layers <= i < layers for i in self._stacked_indices(strict=False)):
            raise ManifestError(f"{self.name}: stack {self.params['stack']!r} names a layer outside 0..{layers - 1}")

    # ------------------------------------------------------------------ geometry
    def _map_size(self):
        k, pad = self.params["input_width"], self.params["input_padding"]
        return tuple(conv_output_size(d, k, 1, pad) for d in self.input_dims[:2])

    def _stacked_indices(self, strict=True):
        layers, stack = self.params["layers"], self.params["stack"]
        if isinstance(stack, int):
            return list(range(layers))[stack:] if strict else [stack]
        return [i % layers for i in stack] if strict else list(stack)

    def output_dims(self):
        return (*self._map_size(), self.params["channels"] * len(self._stacked_indices()))

    # ------------------------------------------------------------------ weights
    def _conv_shapes(self):
        """Name -> (shape, fan_in, fan_out), fans as PyTorch counts them for Xavier initialisation."""
        c, k, kh = self.params["channels"], self.params["input_width"], self.params["hidden_width"]
        cin = self.input_dims[2]
        shapes = {"input_kernel": ((k, k, cin, c), cin * k * k, c * k * k)}
        for layer in range(1, self.params["layers"]):
            hidden = self.params["hidden"]
            if hidden == "separable":
                shapes[f"pointwise_in_{layer}"] = ((c, c), c, c)
            if hidden in ("separable", "depthwise"):
                shapes[f"depthwise_{layer}"] = ((kh, kh, c), kh * kh, c * kh * kh)
                shapes[f"pointwise_{layer}"] = ((c, c), c, c)
            else:
                shapes[f"full_{layer}"] = ((kh, kh, c, c), c * kh * kh, c * kh * kh)
        return shapes

    def weight_shapes(self):
        c = self.params["channels"]
        shapes = {name: shape for name, (shape, _, _) in self._conv_shapes().items()}
        for layer in range(self.params["layers"]):
            shapes[f"gamma_{layer}"] = (c,)
            shapes[f"beta_{layer}"] = (c,)
        return shapes

    def _moving(self):
        return {f"moving_{stat}_{layer}": value for layer in range(self.params["layers"])
                for stat, value in (("mean", 0.0), ("variance", 1.0))}

    def build(self, input_shape=None):
        for name, value in self._moving().items():
            self._vars[name] = self.add_weight(
                name=name, shape=(self.replicas, self.params["channels"]),
                initializer=keras.initializers.Constant(value), trainable=False)
        super().build(input_shape)

    def initial_value(self, name, rng):
        c = self.params["channels"]
        if name.startswith("gamma_"):
            return np.ones(c)
        if name.startswith("beta_"):
            return np.zeros(c)
        shape, fan_in, fan_out = self._conv_shapes()[name]
        return xavier_normal(rng, shape, fan_in, fan_out)

    def initialise(self, rngs):
        super().initialise(rngs)
        for name, value in self._moving().items():
            self._vars[name].assign(np.full((self.replicas, self.params["channels"]), value, np.float32))

    def regularized_weights(self, regularizer):
        return [self.weight("input_kernel")]

    # ------------------------------------------------------------------ forward
    def _hidden_conv(self, h, layer: int):
        hidden = self.params["hidden"]
        if hidden == "full":
            return full_conv(h, self.weight(f"full_{layer}"), "same")
        if hidden == "separable":  # the 1 x 1 output is recomputed for the gradient, not kept (memory)
            h = pointwise_depthwise(h, self.weight(f"pointwise_in_{layer}"), self.weight(f"depthwise_{layer}"), "same")
        else:
            h = depthwise_conv(h, self.weight(f"depthwise_{layer}"), "same")
        return pointwise_conv(h, self.weight(f"pointwise_{layer}"))

    def forward(self, x, training):
        nonlinearity = self.components().activations.get(self.params["nonlinearity"])
        h = first_conv(as_image(x, self.input_dims), self.weight("input_kernel"), self.params["input_padding"])
        outputs = []
        last = self.params["layers"] - 1
        for layer in range(self.params["layers"]):
            if layer:
                h = self._hidden_conv(h, layer)
            h = batch_normalise(h, training, self._vars[f"moving_mean_{layer}"],
                                self._vars[f"moving_variance_{layer}"], self.weight(f"gamma_{layer}"),
                                self.weight(f"beta_{layer}"), self.params["momentum"], self.params["epsilon"])
            if layer < last or self.params["final_nonlinearity"]:
                h = nonlinearity(h)
            outputs.append(h)
        chosen = [outputs[i] for i in self._stacked_indices()]
        return flatten_image(chosen[0] if len(chosen) == 1 else tf.concat(chosen, axis=-1))
