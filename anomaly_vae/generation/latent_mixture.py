"""Where the encoder puts the training examples, as a Gaussian mixture: the codes :meth:`~anomaly_vae.VAEAnomalyDetector.sample` draws from.

A VAE's samples are usually decoded from prior codes, N(0, I). But the codes of the training examples (the
aggregate posterior) fill the prior unevenly, all the more below β = 1, so many prior codes decode to examples
unlike any seen ("holes" in the latent space). Fitting a small Gaussian mixture to the training examples'
posterior means after training and drawing codes from it ("ex-post density estimation", Ghosh et al., "From
Variational to Deterministic Autoencoders", ICLR 2020) gave samples that a classifier told from real rows less
often on every continuous ADBench set tried (``benchmarks/RESULTS.md``, "Generation").

The mixture is kept as three plain arrays (weights, means, covariances) so a saved detector stores it as numbers
in ``detector.json``, and :meth:`LatentMixture.from_dict` checks them before anything samples from them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

LATENT_COMPONENTS = 10
"""Mixture components (fewer when there are fewer than ``LATENT_EXAMPLES_PER_COMPONENT`` codes per component)."""

LATENT_EXAMPLES_PER_COMPONENT = 10
LATENT_FIT_EXAMPLES = 10_000
"""At most this many training examples' codes fit the mixture (a random subset of larger sets): plenty for 10
components, and encoding them stays a small part of a fit."""

LATENT_REG_COVAR = 1e-4
"""Added to each covariance's diagonal (scikit-learn's ``reg_covar``), so a component on a few codes stays proper."""


@dataclass(frozen=True)
class LatentMixture:
    """A Gaussian mixture in the latent space: ``weights`` ``(k,)``, ``means`` ``(k, d)``, ``covariances``
    ``(k, d, d)``."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray

    @classmethod
    def fit(cls, codes: np.ndarray, random_state: int) -> LatentMixture:
        """A full-covariance Gaussian mixture fitted to ``codes`` ``(n, d)`` by scikit-learn's EM."""
        from sklearn.mixture import GaussianMixture
        from threadpoolctl import threadpool_limits

        codes = np.asarray(codes, dtype=np.float64)
        k = int(np.clip(len(codes) // LATENT_EXAMPLES_PER_COMPONENT, 1, LATENT_COMPONENTS))
        # one BLAS thread: the matrices are small, and beside a backend's own threads more ran ten times slower
        with warnings.catch_warnings(), threadpool_limits(limits=1):
            warnings.simplefilter("ignore")  # EM's convergence warning: a mixture after max_iter still samples well
            gmm = GaussianMixture(k, covariance_type="full", reg_covar=LATENT_REG_COVAR, random_state=random_state).fit(
                codes
            )
        return cls(np.asarray(gmm.weights_), np.asarray(gmm.means_), np.asarray(gmm.covariances_))

    def sample(self, n: int, rng: np.random.RandomState) -> np.ndarray:
        """``n`` codes ``(n, d)``: a component by its weight, then a draw from its Gaussian."""
        component = rng.choice(len(self.weights), size=n, p=self.weights / self.weights.sum())
        noise = rng.standard_normal((n, self.means.shape[1]))
        chol = np.linalg.cholesky(self.covariances)
        return self.means[component] + np.einsum("nij,nj->ni", chol[component], noise)

    def to_dict(self) -> dict:
        return {
            "weights": self.weights.tolist(),
            "means": self.means.tolist(),
            "covariances": self.covariances.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict, latent_dim: int, where: str) -> LatentMixture:
        """The mixture saved by ``to_dict``, checked: shapes that fit ``latent_dim``, finite numbers, weights
        that are a distribution, covariances symmetric positive definite. ``where`` names the file and field in errors."""
        try:
            weights = np.asarray(data["weights"], dtype=np.float64)
            means = np.asarray(data["means"], dtype=np.float64)
            covariances = np.asarray(data["covariances"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{where} is not a mixture of weights, means and covariances: {err}") from None
        k = len(weights)
        if (
            weights.shape != (k,)
            or k < 1
            or means.shape != (k, latent_dim)
            or covariances.shape != (k, latent_dim, latent_dim)
        ):
            raise ValueError(
                f"{where} has shapes {weights.shape}, {means.shape}, "
                f"{covariances.shape}; a mixture in {latent_dim} latent dimensions needs (k,), "
                f"(k, {latent_dim}), (k, {latent_dim}, {latent_dim})."
            )
        if not all(np.isfinite(a).all() for a in (weights, means, covariances)):
            raise ValueError(f"{where} holds NaN or inf.")
        if (weights < 0).any() or not np.isclose(weights.sum(), 1.0, atol=1e-6):
            raise ValueError(f"{where}: the weights must be non-negative and sum to 1.")
        if not np.allclose(covariances, covariances.transpose(0, 2, 1)):
            raise ValueError(f"{where}: the covariances must be symmetric.")
        try:
            np.linalg.cholesky(covariances)
        except np.linalg.LinAlgError:
            raise ValueError(f"{where}: the covariances must be positive definite.") from None
        return cls(weights, means, covariances)
