"""The ``VAE`` Keras model: encoder -> (z_mean, z_log_var) -> z = mu + sigma * eps -> decoder."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from anomaly_vae import initializers
from anomaly_vae.choices import LIKELIHOODS
from anomaly_vae.elbo import elbo_loss
from anomaly_vae.likelihoods import CategoricalGroups, check_groups
from anomaly_vae.loss_tracker import LossTracker
from anomaly_vae.member_dense import MemberDense
from anomaly_vae.steps import step_mixin

Z_LOG_VAR_MIN = -12.0
Z_LOG_VAR_MAX = 8.0


@keras.saving.register_keras_serializable(package="anomaly_vae")
class VAE(step_mixin(), keras.Model):
    """Variational autoencoder for tabular rows, trained on the negative ELBO.

    Parameters
    ----------
    n_features : int
        Width of the input rows.
    latent_dim : int
        Size of the latent code z.
    hidden_units : sequence of int
        Encoder layer widths; the decoder mirrors them.
    likelihood : {"gaussian", "heteroscedastic", "mse", "bernoulli"}
        Decoder distribution; see :data:`anomaly_vae.choices.LIKELIHOODS`.
    beta : float
        Weight of the KL term in the training loss (1.0 is the true ELBO).
    activation : str
        Hidden-layer activation.
    n_score_samples : int
        Number of fixed latent draws used when scoring (see ``score_noise``).
    n_members : int
        Independent networks trained side by side on the same batches (a leading weight axis, see
        :class:`~anomaly_vae.member_dense.MemberDense`); the loss is their mean and scores average them.
    categorical_groups : sequence of sequences of int
        Column indices of one-hot groups (a categorical input, one-hot encoded). Each group gets a
        categorical likelihood (softmax over its decoder outputs) instead of ``likelihood``.
    seed : int or None
        Seed for the weight initialisers, the training noise and ``score_noise``.
    dtype : str or keras.DTypePolicy, optional
        Dtype policy of every layer, e.g. ``"mixed_bfloat16"``; the ELBO and the scores are
        always computed in float32.

    ``call`` maps rows ``(n, d)`` to a dict with ``x_mean`` (means or logits), ``x_log_var``
    (Gaussian only), ``z_mean`` and ``z_log_var``, each with a leading member axis
    ``(n_members, n, ...)``. ``score_noise`` is a non-trainable ``(n_score_samples, latent_dim)``
    set of standard-normal draws, saved with the model: every row is scored with the same draws,
    so scores do not change from call to call, with row order, or across backends.
    """

    def __init__(
        self,
        n_features: int,
        latent_dim: int = 8,
        hidden_units: Sequence[int] = (64, 32),
        likelihood: str = "gaussian",
        beta: float = 1.0,
        activation: str = "relu",
        n_score_samples: int = 16,
        n_members: int = 1,
        categorical_groups: Sequence[Sequence[int]] = (),
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        _check_positive_int("n_features", n_features)
        _check_positive_int("latent_dim", latent_dim)
        _check_positive_int("n_score_samples", n_score_samples)
        _check_positive_int("n_members", n_members)
        hidden_units = tuple(int(h) for h in hidden_units)
        for h in hidden_units:
            _check_positive_int("hidden_units", h)
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}.")
        if not beta >= 0:
            raise ValueError(f"beta must be >= 0, got {beta!r}.")
        self.n_features = int(n_features)
        self.latent_dim = int(latent_dim)
        self.hidden_units = hidden_units
        self.likelihood = likelihood
        self.beta = float(beta)
        self.activation = activation
        self.n_score_samples = int(n_score_samples)
        self.n_members = int(n_members)
        self.categorical_groups = check_groups(categorical_groups, self.n_features)
        self.categorical = CategoricalGroups(self.categorical_groups, self.n_features) if self.categorical_groups else None
        self.seed = seed

        seeds = _SeedCounter(seed)

        def dense(units, act, name):  # every layer: the next seed and the model's dtype policy
            return _dense(units, self.n_members, act, seeds(), name, self.dtype_policy)

        # Plain lists rather than keras.Sequential, and ``encode``/``decode`` call the built layers'
        # ``call`` directly: on eager PyTorch a Sequential's functional graph and each
        # ``Layer.__call__`` (input checks, scopes) cost more than the layers' own maths.
        self.encoder_layers = [dense(h, activation, f"encoder_{i}") for i, h in enumerate(hidden_units)]
        self.z_mean_layer = dense(latent_dim, None, "z_mean")
        self.z_log_var_layer = dense(latent_dim, None, "z_log_var")
        self.decoder_layers = [dense(h, activation, f"decoder_{i}") for i, h in enumerate(reversed(hidden_units))]
        self.x_mean_layer = dense(n_features, None, "x_mean")
        if likelihood == "heteroscedastic":
            self.x_log_var_layer = dense(n_features, None, "x_log_var")
        self.seed_generator = keras.random.SeedGenerator(seeds())
        self._noise_seed = seeds()
        self.loss_tracker = LossTracker()

    def build(self, input_shape=None):
        if input_shape is not None and input_shape[-1] not in (None, self.n_features):
            raise ValueError(f"VAE expects {self.n_features} features, got input shape {input_shape}.")
        hidden = _build_stack(self.encoder_layers, self.n_features)
        self.z_mean_layer.build((None, hidden))
        self.z_log_var_layer.build((None, hidden))
        decoded = _build_stack(self.decoder_layers, self.latent_dim)
        self.x_mean_layer.build((None, decoded))
        if self.likelihood == "heteroscedastic":
            self.x_log_var_layer.build((None, decoded))
        if self.likelihood == "gaussian":
            self.x_log_var = self.add_weight(
                shape=(self.n_members, 1, self.n_features), initializer=initializers.Zeros(), name="x_log_var"
            )
        self.kl_scale = self.add_weight(shape=(), initializer=initializers.Ones(), trainable=False, name="kl_scale")
        self.score_noise = self.add_weight(
            shape=(self.n_score_samples, self.latent_dim),
            initializer=initializers.Normal(seed=self._noise_seed),
            trainable=False,
            name="score_noise",
        )
        self.built = True

    @property
    def metrics(self):
        return [self.loss_tracker]

    def encode(self, x):
        """Posterior parameters ``(z_mean, z_log_var)`` of rows ``x`` ``(n, d)``, each ``(n_members, n, latent)``,
        with ``z_log_var`` clipped for safety."""
        h = x
        for layer in self.encoder_layers:
            h = layer.call(h)
        z_log_var = ops.clip(self.z_log_var_layer.call(h), Z_LOG_VAR_MIN, Z_LOG_VAR_MAX)
        return self._with_member_axis(self.z_mean_layer.call(h)), self._with_member_axis(z_log_var)

    def decode(self, z) -> dict:
        """Decoder parameters for latent codes ``z`` ``(n_members, n, latent)``: ``x_mean`` and, if Gaussian,
        ``x_log_var`` (one learned ``(n_members, 1, d)`` array, or per row for the heteroscedastic likelihood)."""
        h = z[0] if self.n_members == 1 else z  # one member: 2-D through the layers (see MemberDense)
        for layer in self.decoder_layers:
            h = layer.call(h)
        decoded = {"x_mean": self._with_member_axis(self.x_mean_layer.call(h))}
        if self.likelihood == "gaussian":
            decoded["x_log_var"] = ops.convert_to_tensor(self.x_log_var)
        elif self.likelihood == "heteroscedastic":
            decoded["x_log_var"] = self._with_member_axis(self.x_log_var_layer.call(h))
        return decoded

    def _with_member_axis(self, t):
        """``t`` with the leading member axis that one-member layers leave implicit."""
        return ops.expand_dims(t, 0) if len(t.shape) == 2 else t

    def call(self, x, training=False, noise=None):
        """Decoder and posterior parameters of rows ``x``, from one draw z = mu + sigma * ``noise``
        (standard-normal noise of shape ``(n_members, n, latent)``, drawn from ``seed_generator`` if None)."""
        z_mean, z_log_var = self.encode(x)
        if noise is None:
            noise = keras.random.normal(ops.shape(z_mean), dtype=self.compute_dtype, seed=self.seed_generator)
        z = z_mean + ops.exp(0.5 * z_log_var) * ops.cast(noise, self.compute_dtype)
        return {**self.decode(z), "z_mean": z_mean, "z_log_var": z_log_var}

    def _elbo_loss(self, x, outputs, training=True):
        """The beta-weighted negative ELBO; in training the KL weight is also scaled by ``kl_scale``
        (ramped up from 0 by :class:`~anomaly_vae.callbacks.KLWarmUp`), so validation always sees ``beta``."""
        beta = self.beta * ops.convert_to_tensor(self.kl_scale) if training else self.beta
        return elbo_loss(x, outputs, self.likelihood, beta, self.categorical)

    def _update_metrics(self, loss, reconstruction_loss, kl_loss) -> dict:
        self.loss_tracker.update_state(loss, reconstruction_loss, kl_loss)
        return self.loss_tracker.result()

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            n_features=self.n_features,
            latent_dim=self.latent_dim,
            hidden_units=list(self.hidden_units),
            likelihood=self.likelihood,
            beta=self.beta,
            activation=self.activation,
            n_score_samples=self.n_score_samples,
            n_members=self.n_members,
            categorical_groups=[list(g) for g in self.categorical_groups],
            seed=self.seed,
        )
        return config


def _build_stack(layers, width: int) -> int:
    """Build ``layers`` in turn from inputs of ``width`` features; the width that comes out."""
    for layer in layers:
        layer.build((None, width))
        width = layer.units
    return width


def _dense(units, n_members, activation, seed, name, dtype=None):
    return MemberDense(
        units,
        n_members,
        activation=activation,
        kernel_initializer=initializers.GlorotUniform(seed=seed),
        bias_initializer=initializers.Zeros(),
        name=name,
        dtype=dtype,
    )


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        try:
            ok = int(value) == value and value >= 1 and not isinstance(value, bool)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")


class _SeedCounter:
    """Hands out distinct derived seeds, or None when unseeded."""

    def __init__(self, seed):
        self.seed, self.i = seed, 0

    def __call__(self):
        self.i += 1
        return None if self.seed is None else (int(self.seed) * 1009 + self.i) % (2**31 - 1)
