"""The ``VAE`` Keras model, composed of parts: an encoder (inputs -> z_mean, z_log_var), the
reparameterised sample z = mu + sigma * eps, a decoder (z -> the likelihood's parameters) and a
likelihood (:mod:`anomaly_vae.network.likelihoods`) that scores the inputs under those parameters.

Parts for tables are in :mod:`anomaly_vae.network.dense_parts` (built when only ``n_features`` is given), for
images in :mod:`anomaly_vae.network.conv_parts`. The ELBO (:mod:`anomaly_vae.network.elbo`) and the score rules
(:mod:`anomaly_vae.detectors.scoring`) reduce over every event axis of an example, so the same model class and the
same per-backend training steps (:mod:`anomaly_vae.network.steps`) serve rows and images.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from anomaly_vae.inputs.validation import check_positive_int
from anomaly_vae.network import initializers, likelihoods
from anomaly_vae.network.conv_parts import ConvDecoder, ConvEncoder
from anomaly_vae.network.dense_parts import DenseDecoder, DenseEncoder
from anomaly_vae.network.elbo import elbo_loss
from anomaly_vae.network.known_anomalies import labelled_elbo_loss
from anomaly_vae.network.loss_tracker import LossTracker
from anomaly_vae.network.seeds import SeedCounter
from anomaly_vae.network.steps import step_mixin

Z_LOG_VAR_MIN = -12.0
Z_LOG_VAR_MAX = 8.0

ENCODERS = {cls.__name__: cls for cls in (DenseEncoder, ConvEncoder)}
DECODERS = {cls.__name__: cls for cls in (DenseDecoder, ConvDecoder)}
"""The part classes a saved ``VAE`` may name: its config is checked against these exact types before
anything is built from it (a model file never picks an arbitrary Keras layer)."""

PART_ATTRIBUTES = {
    "encoder": ("event_shape", "latent_dim", "n_members"),
    "decoder": ("event_shape", "latent_dim", "heads"),
}
"""What the ``VAE`` reads of a part besides its ``call``: any Keras layer with these works in a live model
(saved, it loads only if its class is one of the above)."""


@keras.saving.register_keras_serializable(package="anomaly_vae")
class VAE(step_mixin(), keras.Model):  # type: ignore[misc]  # the backend's step, chosen at import
    """Variational autoencoder trained on the negative ELBO, composed of an encoder, a decoder and a likelihood.

    Give either ``n_features`` (a table: the dense parts are built from ``hidden_units``, ``activation`` and
    ``n_members``) or both ``encoder`` and ``decoder`` (any parts of ``ENCODERS`` / ``DECODERS``,
    for example :class:`~anomaly_vae.network.conv_parts.ConvEncoder` for images).

    Parameters
    ----------
    n_features : int, optional
        Width of the input rows (the tabular VAE).
    latent_dim : int
        Size of the latent code z.
    hidden_units : sequence of int
        Encoder layer widths of the tabular parts; the decoder mirrors them.
    likelihood : {"gaussian", "heteroscedastic", "mse", "bernoulli"}
        Decoder distribution; see :data:`anomaly_vae.network.likelihoods.LIKELIHOODS`.
    beta : float
        Weight of the KL term in the training loss (1.0 is the true ELBO).
    activation : str
        Hidden-layer activation of the tabular parts.
    n_score_samples : int
        Number of fixed latent draws used when scoring (see ``score_noise``).
    n_members : int
        Independent tabular networks trained side by side on the same batches (a leading weight axis, see
        :class:`~anomaly_vae.network.member_dense.MemberDense`); the loss is their mean and scores average them.
    categorical_groups : sequence of sequences of int
        Column indices of one-hot groups (a categorical input, one-hot encoded). Each group gets a
        categorical likelihood (softmax over its decoder outputs) instead of ``likelihood``.
    missing : bool
        Rows may hold NaN for missing entries (tables only): the encoder sees the observed mask and the likelihood
        counts the observed entries only, so missing entries are marginalised out of training and scores (as in
        MIWAE; :class:`~anomaly_vae.network.likelihoods.ObservedOnly`).
    corruption_noise : float
        Standard deviation of Gaussian noise added to the encoder's inputs in training (network units: standardised
        columns, pixels in [0, 1]); the loss still scores the clean inputs, so the model learns to denoise.
    corruption_mask : float
        Share of the entries hidden from the encoder in training, each at random (missing for a model with
        ``missing``, else set to 0); the loss still scores the clean inputs.
    seed : int or None
        Seed for the weight initialisers, the training noise and ``score_noise``.
    encoder, decoder : keras layers, optional
        The parts, instead of ``n_features``. The decoder must produce the likelihood's ``row_heads``.
    dtype : str or keras.DTypePolicy, optional
        Dtype policy of every layer, e.g. ``"mixed_bfloat16"``; the ELBO and the scores are
        always computed in float32.

    ``call`` maps inputs ``(n, *event_shape)`` to a dict with the likelihood's heads (``x_mean`` and, for the
    Gaussians, ``x_log_var``), ``z_mean`` and ``z_log_var``, each with a leading member axis
    ``(n_members, n, ...)``. ``score_noise`` is a non-trainable ``(n_score_samples, latent_dim)``
    set of standard-normal draws, saved with the model: every example is scored with the same draws,
    so scores do not change from call to call, with row order, or across backends.
    """

    def __init__(
        self,
        n_features: int | None = None,
        latent_dim: int = 8,
        hidden_units: Sequence[int] = (64, 32),
        likelihood: str = "gaussian",
        beta: float = 1.0,
        activation: str = "relu",
        n_score_samples: int = 16,
        n_members: int = 1,
        categorical_groups: Sequence[Sequence[int]] = (),
        missing: bool = False,
        corruption_noise: float = 0.0,
        corruption_mask: float = 0.0,
        seed: int | None = None,
        encoder=None,
        decoder=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.latent_dim = check_positive_int("latent_dim", latent_dim)
        self.n_score_samples = check_positive_int("n_score_samples", n_score_samples)
        if likelihood not in likelihoods.LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {tuple(likelihoods.LIKELIHOODS)}, got {likelihood!r}.")
        if not beta >= 0:
            raise ValueError(f"beta must be >= 0, got {beta!r}.")
        if not corruption_noise >= 0:
            raise ValueError(f"corruption_noise must be >= 0, got {corruption_noise!r}.")
        if not 0 <= corruption_mask < 1:
            raise ValueError(f"corruption_mask must be in [0, 1), got {corruption_mask!r}.")
        self.corruption_noise, self.corruption_mask = float(corruption_noise), float(corruption_mask)
        self.likelihood = likelihood
        self.beta = float(beta)
        self.seed = seed
        heads = likelihoods.LIKELIHOODS[likelihood].row_heads
        if (encoder is None) != (decoder is None) or (encoder is None) == (n_features is None):
            raise ValueError("Give a VAE either n_features (the tabular parts) or both encoder and decoder.")
        if encoder is None:
            n_features = check_positive_int("n_features", n_features)
            hidden_units = tuple(check_positive_int("hidden_units", h) for h in hidden_units)
            check_positive_int("n_members", n_members)
            common = dict(
                latent_dim=self.latent_dim,
                activation=activation,
                n_members=n_members,
                seed=seed,
                dtype=self.dtype_policy,
            )
            encoder = DenseEncoder(n_features, hidden_units=hidden_units, mask_input=missing, name="encoder", **common)
            decoder = DenseDecoder(
                n_features,
                hidden_units=hidden_units[::-1],
                heads=heads,
                name="decoder",
                seed_start=encoder.seeds_used,
                **common,
            )
            self._tabular: dict | None = dict(
                n_features=n_features, hidden_units=list(hidden_units), activation=activation, n_members=int(n_members)
            )
        elif missing:
            raise ValueError(
                "missing=True needs the tabular parts (n_features): only tables marginalise missing entries."
            )
        else:
            encoder, decoder = _part(encoder, ENCODERS, "encoder"), _part(decoder, DECODERS, "decoder")
            if tuple(decoder.heads) != tuple(heads):
                raise ValueError(
                    f"decoder heads {tuple(decoder.heads)} differ from what likelihood {likelihood!r} "
                    f"needs: {tuple(heads)}."
                )
            if encoder.latent_dim != self.latent_dim or decoder.latent_dim != self.latent_dim:
                raise ValueError(
                    f"encoder and decoder latent_dim ({encoder.latent_dim}, {decoder.latent_dim}) "
                    f"must equal latent_dim={self.latent_dim}."
                )
            if tuple(encoder.event_shape) != tuple(decoder.event_shape):
                raise ValueError(
                    f"encoder takes examples of shape {tuple(encoder.event_shape)} but the decoder "
                    f"makes {tuple(decoder.event_shape)}."
                )
            self._tabular = None
        self.encoder, self.decoder = encoder, decoder
        self.event_shape = tuple(encoder.event_shape)
        self.n_members = int(encoder.n_members)
        self.n_features = self.event_shape[0] if len(self.event_shape) == 1 else None
        self.hidden_units = tuple(hidden_units) if self._tabular else ()
        self.activation = activation
        self.categorical_groups = (
            likelihoods.check_groups(categorical_groups, self.n_features or 0) if categorical_groups else ()
        )
        if self.categorical_groups and self.n_features is None:
            raise ValueError("categorical_groups apply to tables (examples of one axis) only.")
        self.missing = bool(missing)
        self.output_distribution = likelihoods.get(likelihood, self.categorical_groups, self.n_features, self.missing)
        seeds = SeedCounter(seed, getattr(encoder, "seeds_used", 0) + getattr(decoder, "seeds_used", 0))
        self.seed_generator = keras.random.SeedGenerator(seeds())
        self._noise_seed = seeds()
        self.loss_tracker = LossTracker()

    def build(self, input_shape=None):
        if input_shape is not None:
            got = tuple(input_shape)[1:]
            if len(got) != len(self.event_shape) or any(g not in (None, w) for g, w in zip(got, self.event_shape)):
                raise ValueError(
                    f"VAE expects examples of shape {self.event_shape}, got input shape {tuple(input_shape)}."
                )
        if not self.encoder.built:  # (a deserialized part arrives built from its own build config)
            self.encoder.build((None, *self.event_shape))
        if not self.decoder.built:
            self.decoder.build((None, self.latent_dim))
        self.shared_heads = {}
        for head in self.output_distribution.shared_heads:  # learned per element, the same for every example
            self.shared_heads[head] = self.add_weight(
                shape=(self.n_members, 1, *self.event_shape), initializer=initializers.Zeros(), name=head
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
        """Posterior parameters ``(z_mean, z_log_var)`` of inputs ``x`` ``(n, *event_shape)``, each
        ``(n_members, n, latent)``, with ``z_log_var`` clipped for safety."""
        z_mean, z_log_var = self.encoder.call(x)  # the fast path: see dense_parts and conv_parts
        return z_mean, ops.clip(z_log_var, Z_LOG_VAR_MIN, Z_LOG_VAR_MAX)

    def decode(self, z) -> dict:
        """The likelihood's parameters for latent codes ``z`` ``(n_members, n, latent)``: the decoder's
        per-example heads ``(n_members, n, *event_shape)`` and the learned shared ones
        ``(n_members, 1, *event_shape)``."""
        decoded = self.decoder.call(z)
        for head, weight in self.shared_heads.items():
            decoded[head] = ops.convert_to_tensor(weight)
        return decoded

    def call(self, x, training=False, noise=None):
        """Decoder and posterior parameters of inputs ``x``, from one draw z = mu + sigma * ``noise``
        (standard-normal noise of shape ``(n_members, n, latent)``, drawn from ``seed_generator`` if None)."""
        z_mean, z_log_var = self.encode(self.corrupt(x) if training else x)
        if noise is None:
            noise = keras.random.normal(ops.shape(z_mean), dtype=self.compute_dtype, seed=self.seed_generator)
        z = z_mean + ops.exp(0.5 * z_log_var) * ops.cast(noise, self.compute_dtype)
        return {**self.decode(z), "z_mean": z_mean, "z_log_var": z_log_var}

    def corrupt(self, x):
        """Training inputs as the encoder sees them: with ``corruption_noise`` added and ``corruption_mask`` of the
        entries hidden (the denoising autoencoder's corruption); ``x`` itself when both are 0."""
        if self.corruption_noise:
            x = x + self.corruption_noise * keras.random.normal(ops.shape(x), dtype=x.dtype, seed=self.seed_generator)
        if self.corruption_mask:
            hide = keras.random.uniform(ops.shape(x), dtype="float32", seed=self.seed_generator) < self.corruption_mask
            x = ops.where(hide, float("nan") if self.missing else 0.0, x)
        return x

    def _elbo_loss(self, x, outputs, training=True, labels=None):
        """The beta-weighted negative ELBO; in training the KL weight is also scaled by ``kl_scale``
        (ramped up from 0 by :class:`~anomaly_vae.network.callbacks.KLWarmUp`), so validation always sees ``beta``.
        With ``labels`` (1 = known anomaly) the loss is
        :func:`~anomaly_vae.network.known_anomalies.labelled_elbo_loss`."""
        beta = self.beta * ops.convert_to_tensor(self.kl_scale) if training else self.beta
        if labels is not None:
            return labelled_elbo_loss(x, outputs, self.output_distribution, beta, labels)
        return elbo_loss(x, outputs, self.output_distribution, beta)

    def _update_metrics(self, loss, reconstruction_loss, kl_loss) -> dict:
        self.loss_tracker.update_state(loss, reconstruction_loss, kl_loss)
        return self.loss_tracker.result()

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            latent_dim=self.latent_dim,
            likelihood=self.likelihood,
            beta=self.beta,
            n_score_samples=self.n_score_samples,
            categorical_groups=[list(g) for g in self.categorical_groups],
            missing=self.missing,
            corruption_noise=self.corruption_noise,
            corruption_mask=self.corruption_mask,
            seed=self.seed,
        )
        if self._tabular is not None:
            config.update(self._tabular)
        else:
            config.update(
                encoder=keras.saving.serialize_keras_object(self.encoder),
                decoder=keras.saving.serialize_keras_object(self.decoder),
            )
        return config

    @classmethod
    def from_config(cls, config: dict):
        """The VAE a ``get_config`` dictionary describes; its parts must be one of the allowed part classes."""
        config = dict(config)
        for key, allowed in (("encoder", ENCODERS), ("decoder", DECODERS)):
            if isinstance(config.get(key), dict):
                config[key] = _part(config[key], allowed, key)
        return cls(**config)


FORMER_PART_MODULES = {
    "DenseEncoder": "anomaly_vae.dense_parts",
    "DenseDecoder": "anomaly_vae.dense_parts",
    "ConvEncoder": "anomaly_vae.conv_parts",
    "ConvDecoder": "anomaly_vae.conv_parts",
}
"""Where each part's class lived before the library was split into folders (5eefd4c and earlier): the module a
``.keras`` file saved then names, accepted beside today's."""


def _part(part, allowed: dict, what: str):
    """``part`` as a layer of one of the ``allowed`` classes; a serialized part is checked by its exact
    class name and module (today's, or the one it had before the layout moves) before Keras builds anything
    from it."""
    if isinstance(part, dict):
        name, module = part.get("class_name"), part.get("module")
        registered = part.get("registered_name")
        modules = (None, allowed[name].__module__, FORMER_PART_MODULES.get(str(name))) if name in allowed else ()
        if name not in allowed or registered not in (None, f"anomaly_vae>{name}") or module not in modules:
            raise ValueError(
                f"A VAE {what} must be one of {sorted(allowed)}; the model names {name!r} "
                f"({registered!r}), which anomaly-vae never writes."
            )
        part = keras.saving.deserialize_keras_object(part)
    missing = [a for a in PART_ATTRIBUTES[what] if not hasattr(part, a)]
    if not isinstance(part, keras.layers.Layer) or missing:
        raise ValueError(
            f"A VAE {what} must be a Keras layer with {list(PART_ATTRIBUTES[what])}, like "
            f"{sorted(allowed)}; got {type(part).__name__} (missing {missing})."
        )
    return part
