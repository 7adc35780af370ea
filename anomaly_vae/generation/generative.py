"""The VAE as a generative model: encode, decode, reconstruct, sample and interpolate, for every detector.

:class:`GenerativeMixin` is mixed into :class:`~anomaly_vae.detectors.base_detector.BaseVAEDetector`. It works in the
network's units (scaled rows, images in [0, 1]) and hands results to the detector's ``_from_network`` hook, which
returns them in the user's units (the inverse of the fitted scaler for tables; the input's range and layout for
images). Models with several ensemble members generate from the first: members' latent spaces are not aligned.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from anomaly_vae.choices import SAMPLE_CODES
from anomaly_vae.inputs.validation import check_positive_int

GENERATE_BATCH = 1024
"""Latent codes decoded per call."""

MAX_SAMPLE_VALUES = 50_000_000
"""The most values (examples x values per example) one :meth:`GenerativeMixin.sample` call returns (400 MB as
float64); draw more in several calls, as ``anomaly-vae sample`` does."""


class GenerativeMixin:
    """``encode``, ``decode``, ``reconstruct``, ``denoise``, ``sample`` and ``interpolate``; see the module docstring."""

    # what the detector (BaseVAEDetector) this mixes into provides
    vae_: Any
    _prepare: Callable[..., np.ndarray]
    _latent_means: Callable[..., np.ndarray]

    # ------------------------------------------------------------------ hooks of the detectors
    def _from_network(self, x: np.ndarray, like=None):
        """Network-unit examples ``(n, *event_shape)`` in the user's units (``like``: the input they came from)."""
        raise NotImplementedError

    def _generated(self, x: np.ndarray):
        """Sampled network-unit examples in the user's units (:meth:`_from_network` unless a detector also
        keeps them where its training values lie)."""
        return self._from_network(x)

    def _one_example(self, a) -> np.ndarray:
        """One example as the detector takes it, as a batch of one (for :meth:`interpolate`)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ the generative API
    def encode(self, X) -> np.ndarray:
        """Posterior means of ``X``, ``(n, latent_dim)``: where the encoder puts each example."""
        return self._latent_means(self._prepare(X))

    def decode(self, Z):
        """The decoder's mean for latent codes ``Z`` ``(n, latent_dim)``, in the user's units."""
        check_is_fitted(self)
        return self._from_network(self._decode(self._check_codes(Z), sample=False, seed=None))

    def reconstruct(self, X):
        """The decoder's mean for each example's posterior mean code, in the input's units and layout."""
        return self._from_network(self._decode(self.encode(X), sample=False, seed=None), like=X)

    def denoise(self, X):
        """The clean examples the model takes ``X`` for: the decoder's mean at each example's posterior mean code,
        in the input's units. A model trained with ``corruption_noise`` or ``corruption_mask`` learnt exactly this
        map from corrupted inputs to clean ones (a denoising VAE); with ``missing="marginalise"`` a NaN entry comes
        back filled in."""
        return self.reconstruct(X)

    def sample(self, n_samples: int = 1, random_state=None, noise: bool = True, codes: str = SAMPLE_CODES[0]):
        """``n_samples`` new examples: latent codes drawn from where the training examples' codes lie
        (``codes="aggregate"``: a Gaussian mixture fitted to them after training, :mod:`anomaly_vae.generation.latent_mixture`)
        or from the prior N(0, I) (``codes="prior"``), then one draw from the decoder's likelihood for each (with
        its noise; categorical columns draw one category), or with ``noise=False`` the decoder's mean (the usual
        picture of a VAE's image samples: per-pixel noise hides the shapes). A table's columns are then rounded to
        their training values' decimals and clipped to their range (:mod:`anomaly_vae.generation.column_support`).
        ``random_state`` seeds it all, so the same seed gives the same samples."""
        check_is_fitted(self)
        n = check_positive_int("n_samples", n_samples)
        if codes not in SAMPLE_CODES:
            raise ValueError(f"codes must be one of {list(SAMPLE_CODES)}, got {codes!r}.")
        per_example = int(np.prod(self.vae_.event_shape))
        if n * per_example > MAX_SAMPLE_VALUES:
            raise ValueError(
                f"n_samples={n} examples of {per_example} values is more than the "
                f"{MAX_SAMPLE_VALUES:,} values one call returns; draw at most "
                f"{max(1, MAX_SAMPLE_VALUES // per_example):,} per call."
            )
        rng = check_random_state(random_state)
        mixture = getattr(self, "latent_mixture_", None)
        if codes == "aggregate" and mixture is None:
            warnings.warn(
                "This detector was saved before anomaly-vae kept a latent mixture (detector format 8), so "
                "its samples' codes come from the prior; fit it again to sample where its codes lie.",
                UserWarning,
                stacklevel=2,
            )
            codes = "prior"
        z = (
            mixture.sample(n, rng)
            if mixture is not None and codes == "aggregate"
            else rng.standard_normal((n, self.vae_.latent_dim))
        )
        seed = int(rng.randint(np.iinfo(np.int32).max))
        return self._generated(self._decode(z, sample=bool(noise), seed=seed if noise else None))

    def interpolate(self, a, b, n_steps: int = 8):
        """``n_steps`` decoded points on the straight line between the codes of examples ``a`` and ``b``
        (both ends included): how the model morphs one into the other."""
        n = check_positive_int("n_steps", n_steps)
        if n < 2:
            raise ValueError(f"n_steps must be at least 2 (the two ends), got {n_steps!r}.")
        za, zb = self.encode(self._one_example(a)), self.encode(self._one_example(b))
        t = np.linspace(0.0, 1.0, n)[:, None]
        return self._from_network(
            self._decode((1.0 - t) * za + t * zb, sample=False, seed=None), like=self._one_example(a)
        )

    # ------------------------------------------------------------------ the latent mixture, fitted on first use
    @property
    def latent_mixture_(self):
        """The :class:`~anomaly_vae.generation.latent_mixture.LatentMixture` of the training examples' codes, which
        :meth:`sample` draws from; ``None`` for a detector saved before it existed.

        ``fit`` keeps the examples (``LATENT_FIT_EXAMPLES`` at most) and the mixture is fitted the first time it is
        read (sampling, saving, pickling): encoding them and EM cost 0.4-1.1 s of a 1,000-row fit, on the way to a
        first score that never needs them. The same examples and seed give the same mixture whenever it is fitted.
        """
        state = self.__dict__
        if "_latent_mixture" not in state:
            if "_latent_fit" not in state:
                raise AttributeError(f"{type(self).__name__!r} object has no attribute 'latent_mixture_' (not fitted)")
            self.latent_mixture_ = self._fit_latent_mixture(*state["_latent_fit"])
        return state["_latent_mixture"]

    @latent_mixture_.setter
    def latent_mixture_(self, mixture) -> None:
        self.__dict__.pop("_latent_fit", None)
        self.__dict__["_latent_mixture"] = mixture

    def _defer_latent_mixture(self, X_network: np.ndarray, seed: int) -> None:
        """Keep the training examples (network units; a random ``LATENT_FIT_EXAMPLES`` of them at most) and the
        seed that :attr:`latent_mixture_` is fitted from when first read."""
        from anomaly_vae.generation.latent_mixture import LATENT_FIT_EXAMPLES

        if len(X_network) > LATENT_FIT_EXAMPLES:
            X_network = X_network[
                np.random.default_rng(seed).choice(len(X_network), LATENT_FIT_EXAMPLES, replace=False)
            ]
        self.__dict__.pop("_latent_mixture", None)
        self.__dict__["_latent_fit"] = (X_network, seed)  # fit made these rows; nobody else holds them

    def _fit_latent_mixture(self, X_network: np.ndarray, seed: int):
        """The :class:`~anomaly_vae.generation.latent_mixture.LatentMixture` of the posterior means of ``X_network``."""
        from anomaly_vae.generation.latent_mixture import LatentMixture

        return LatentMixture.fit(self._latent_means(X_network), seed)

    # ------------------------------------------------------------------ helpers
    def _check_codes(self, Z) -> np.ndarray:
        Z = np.asarray(Z, dtype=np.float64)
        latent = self.vae_.latent_dim
        if Z.ndim != 2 or Z.shape[1] != latent:
            raise ValueError(f"Latent codes must be an array of shape (n, {latent}); got shape {Z.shape}.")
        if not np.isfinite(Z).all():
            raise ValueError("Latent codes contain NaN or inf.")
        return Z

    def _decode(self, z: np.ndarray, sample: bool, seed) -> np.ndarray:
        """Codes ``(n, latent)`` through the first member's decoder: its mean, or one likelihood draw each."""
        import keras
        from keras import ops

        vae = self.vae_
        members = vae.n_members
        generator = keras.random.SeedGenerator(seed) if sample else None
        out = []
        for start in range(0, len(z), GENERATE_BATCH):
            codes = np.broadcast_to(
                z[start : start + GENERATE_BATCH].astype("float32"), (members, *z[start : start + GENERATE_BATCH].shape)
            )
            params = {k: ops.cast(v, "float32") for k, v in vae.decode(ops.convert_to_tensor(codes)).items()}
            values = (
                vae.output_distribution.sample(params, generator) if sample else vae.output_distribution.mean(params)
            )
            values = ops.broadcast_to(values, (members, len(codes[0]), *vae.event_shape))
            out.append(np.asarray(ops.convert_to_numpy(values[0]), dtype=np.float64))
        decoded = np.concatenate(out) if out else np.zeros((0, *vae.event_shape))
        if not np.isfinite(decoded).all():  # never hand out garbage as data
            raise ValueError("The model decoded non-finite values: its weights are damaged or the network overflowed.")
        return decoded
