"""``MemberDense``: one dense layer per ensemble member, applied as a single batched matmul."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="anomaly_vae")
class MemberDense(keras.layers.Layer):
    """Dense layer with a leading member axis: ``(M, n, in) -> (M, n, units)``.

    Its kernel has shape ``(M, in, units)``, so ``M`` independent networks train and score
    in one call, with one compilation and one Python dispatch per layer. A 2-D input
    ``(n, in)`` is shared by all members (matmul broadcasts it); with one member it gives a 2-D
    output ``(n, units)``, a plain matmul, so a stack of one-member layers never carries the member axis.

    ``call`` casts to the compute dtype itself, so the ``VAE`` may call a built layer's ``call``
    directly (no ``Layer.__call__``, hence no autocast scope) under a mixed-precision policy too.
    """

    def __init__(
        self,
        units: int,
        n_members: int = 1,
        activation=None,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = int(units)
        self.n_members = int(n_members)
        self.activation = keras.activations.get(activation)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        in_features = input_shape[-1]
        self.kernel = self.add_weight(
            shape=(self.n_members, in_features, self.units), initializer=self.kernel_initializer, name="kernel"
        )
        self.bias = self.add_weight(
            shape=(self.n_members, 1, self.units), initializer=self.bias_initializer, name="bias"
        )
        self.built = True

    def call(self, inputs):
        kernel, bias = self.kernel.value, self.bias.value
        if self.compute_dtype != self.variable_dtype:
            inputs, kernel, bias = (ops.cast(t, self.compute_dtype) for t in (inputs, kernel, bias))
        # ``@`` rather than ops.matmul: the same matmul on every backend, without the 17 us of dtype
        # checks that ops.matmul adds per call on eager PyTorch.
        if self.n_members == 1 and len(inputs.shape) == 2:
            # A plain 2-D matmul: faster than the batched one on JAX and TensorFlow (RESULTS.md, "Speed").
            return self.activation(inputs @ kernel[0] + bias[0])
        return self.activation(inputs @ kernel + bias)

    def compute_output_shape(self, input_shape):
        if self.n_members == 1 and len(input_shape) == 2:
            return (input_shape[0], self.units)
        return (self.n_members, *input_shape[-2:-1], self.units)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            units=self.units,
            n_members=self.n_members,
            activation=keras.activations.serialize(self.activation),
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            bias_initializer=keras.initializers.serialize(self.bias_initializer),
        )
        return config
