"""The tabular parts: a dense encoder (rows -> posterior parameters) and a dense decoder (codes ->
likelihood parameters), both with a leading ensemble-member axis (see :class:`~anomaly_vae.network.member_dense.MemberDense`).

They are what ``VAE(n_features=...)`` builds when no parts are given. Each is a Keras layer with its own
config, as in keras-hub's ``VAEEncoder``/``VAEDecoder``; swapping one does not touch the other or the loss.

The fast path: the ``VAE`` calls a part's ``call`` directly, and the parts call their built
``MemberDense`` layers' ``call`` directly too, skipping ``Layer.__call__`` (its input checks and scopes
cost more than a small layer's maths on eager PyTorch: ``benchmarks/RESULTS.md``, "Speed"). That is
correct under a mixed-precision policy because ``MemberDense.call`` casts to its compute dtype itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from anomaly_vae.inputs.validation import check_positive_int
from anomaly_vae.network import initializers
from anomaly_vae.network.member_dense import MemberDense
from anomaly_vae.network.seeds import SeedCounter


def _dense(units, n_members, activation, seed, name, dtype):
    return MemberDense(
        units,
        n_members,
        activation=activation,
        kernel_initializer=initializers.GlorotUniform(seed=seed),
        bias_initializer=initializers.Zeros(),
        name=name,
        dtype=dtype,
    )


def _build_stack(layers, width: int) -> int:
    """Build ``layers`` in turn from inputs of ``width`` features; the width that comes out."""
    for layer in layers:
        layer.build((None, width))
        width = layer.units
    return width


def with_member_axis(t):
    """``t`` with the leading member axis that one-member layers leave implicit."""
    return ops.expand_dims(t, 0) if len(t.shape) == 2 else t


def with_observed_mask(x):
    """Rows ``(n, d)`` whose NaN entries are missing -> ``(n, 2d)``: the rows with NaN set to 0, then the
    observed mask (1.0 where observed)."""
    observed = ops.isfinite(x)
    return ops.concatenate([ops.where(observed, x, ops.zeros_like(x)), ops.cast(observed, x.dtype)], axis=-1)


class _DensePart(keras.layers.Layer):
    """Shared arguments of the dense parts, checked with messages that name the argument."""

    def __init__(
        self, n_features, latent_dim, hidden_units, activation="relu", n_members=1, seed=None, seed_start=0, **kwargs
    ):
        super().__init__(**kwargs)
        self.n_features = check_positive_int("n_features", n_features)
        self.latent_dim = check_positive_int("latent_dim", latent_dim)
        self.hidden_units = tuple(check_positive_int("hidden_units", h) for h in hidden_units)
        self.activation = activation
        self.n_members = check_positive_int("n_members", n_members)
        self.seed = seed
        self.seed_start = int(seed_start)
        self._seeds = SeedCounter(seed, seed_start)

    @property
    def event_shape(self) -> tuple[int, ...]:
        """The shape of one example (a row of ``n_features``)."""
        return (self.n_features,)

    def _layer(self, units, activation, name):
        return _dense(units, self.n_members, activation, self._seeds(), name, self.dtype_policy)

    @property
    def seeds_used(self) -> int:
        """How many derived seeds the part's layers took (where the next part's seeds start)."""
        return self._seeds.i - self.seed_start

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            n_features=self.n_features,
            latent_dim=self.latent_dim,
            hidden_units=list(self.hidden_units),
            activation=self.activation,
            n_members=self.n_members,
            seed=self.seed,
            seed_start=self.seed_start,
        )
        return config


@keras.saving.register_keras_serializable(package="anomaly_vae")
class DenseEncoder(_DensePart):
    """Rows ``(n, n_features)`` -> ``(z_mean, z_log_var)``, each ``(n_members, n, latent_dim)``.

    Parameters
    ----------
    n_features, latent_dim : int
    hidden_units : sequence of int
        Widths of the hidden layers, input side first.
    activation : str
        Hidden-layer activation.
    n_members : int
        Independent networks side by side (a leading weight axis).
    seed : int or None
        Base seed of the weight initialisers; layer i draws from ``SeedCounter(seed, seed_start)``.
    mask_input : bool
        Rows may hold NaN for missing entries: the encoder sees each row with its missing entries set to 0 beside
        the row's observed mask (1 observed, 0 missing), as MIWAE's encoder does, so it can tell a missing entry
        from a zero.
    """

    def __init__(
        self, n_features, latent_dim, hidden_units: Sequence[int] = (64, 32), mask_input: bool = False, **kwargs
    ):
        super().__init__(n_features, latent_dim, hidden_units, **kwargs)
        self.mask_input = bool(mask_input)
        self.hidden = [self._layer(h, self.activation, f"encoder_{i}") for i, h in enumerate(self.hidden_units)]
        self.z_mean_layer = self._layer(self.latent_dim, None, "z_mean")
        self.z_log_var_layer = self._layer(self.latent_dim, None, "z_log_var")

    def build(self, input_shape=None):
        width = _build_stack(self.hidden, self.n_features * (2 if self.mask_input else 1))
        self.z_mean_layer.build((None, width))
        self.z_log_var_layer.build((None, width))
        self.built = True

    def call(self, x):
        h = with_observed_mask(x) if self.mask_input else x
        for layer in self.hidden:
            h = layer.call(h)
        return with_member_axis(self.z_mean_layer.call(h)), with_member_axis(self.z_log_var_layer.call(h))

    def get_config(self) -> dict:
        return {**super().get_config(), "mask_input": self.mask_input}


@keras.saving.register_keras_serializable(package="anomaly_vae")
class DenseDecoder(_DensePart):
    """Codes ``(n_members, n, latent_dim)`` -> a dict of the likelihood's per-row ``heads``, each
    ``(n_members, n, n_features)``.

    ``hidden_units`` are the hidden widths, latent side first (``VAE`` passes the encoder's reversed);
    ``heads`` the likelihood's ``row_heads`` (``("x_mean",)``, or with ``"x_log_var"``), one output layer each.
    """

    def __init__(self, n_features, latent_dim, hidden_units: Sequence[int] = (32, 64), heads=("x_mean",), **kwargs):
        super().__init__(n_features, latent_dim, hidden_units, **kwargs)
        self.heads = tuple(str(h) for h in heads)
        self.hidden = [self._layer(h, self.activation, f"decoder_{i}") for i, h in enumerate(self.hidden_units)]
        self.head_layers = [self._layer(self.n_features, None, head) for head in self.heads]

    def build(self, input_shape=None):
        width = _build_stack(self.hidden, self.latent_dim)
        for layer in self.head_layers:
            layer.build((None, width))
        self.built = True

    def call(self, z):
        h = z[0] if self.n_members == 1 else z  # one member: 2-D through the layers (see MemberDense)
        for layer in self.hidden:
            h = layer.call(h)
        return {head: with_member_axis(layer.call(h)) for head, layer in zip(self.heads, self.head_layers)}

    def get_config(self) -> dict:
        return {**super().get_config(), "heads": list(self.heads)}
