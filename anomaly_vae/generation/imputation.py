"""Missing entries filled from a VAE that marginalises them: importance-weighted conditional means and draws.

For a row with observed part ``x_o``, the encoder (which sees the observed mask) proposes codes
``z_k ~ q(z | x_o)``, k = 1..K. Each gets the self-normalised importance weight
``w_k ∝ p(x_o | z_k) p(z_k) / q(z_k | x_o)``, and

- the conditional mean ``E[x_m | x_o] ≈ Σ_k w_k E[x_m | z_k]`` (MIWAE's single imputation, Mattei &
  Frellsen 2019, eq. 9), and
- a draw from ``p(x_m | x_o)`` picks one ``z_k`` with probability ``w_k`` (sampling importance resampling)
  and draws ``x`` from the likelihood at it (multiple imputation).

The K standard-normal draws behind the codes are fixed arrays given by the caller (the imputer keeps them from
``fit``), so a row's imputation depends neither on the call nor on the rows beside it. Everything is in the
network's units (scaled rows with NaN where missing); the imputer maps it back.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from anomaly_vae.network.likelihoods import HALF_LOG_2PI

DRAWS_PER_CALL = 65_536
"""Rows times importance draws decoded per call: bounds the memory of one call."""


def _weighted_draws(vae, x, eps):
    """Importance weights ``(n, K)`` and the likelihood parameters per row and draw (``(n, K, d)`` each)
    for rows ``x`` ``(n, d)`` and standard-normal draws ``eps`` ``(K, L)``, from the first member."""
    x = ops.cast(ops.convert_to_tensor(x), "float32")
    eps = ops.cast(ops.convert_to_tensor(eps), "float32")
    z_mean, z_log_var = vae.encode(x)
    z_mean, z_log_var = ops.cast(z_mean[0], "float32"), ops.cast(z_log_var[0], "float32")  # (n, L)
    n, (k, latent) = x.shape[0], eps.shape
    z = z_mean[:, None] + ops.exp(0.5 * z_log_var)[:, None] * eps[None]  # (n, K, L)
    decoded = vae.decode(ops.reshape(z, (1, n * k, latent)))
    shared = vae.output_distribution.shared_heads
    params = {
        h: ops.cast(v[0] if h in shared else ops.reshape(v[0], (n, k, -1)), "float32") for h, v in decoded.items()
    }
    log_px = -ops.sum(vae.output_distribution.nll(x[:, None], params), axis=-1)
    log_pz = -ops.sum(0.5 * ops.square(z) + HALF_LOG_2PI, axis=-1)
    log_qz = -ops.sum(0.5 * ops.square(eps) + HALF_LOG_2PI, axis=-1)[None] - 0.5 * ops.sum(z_log_var, axis=-1)[:, None]
    return ops.softmax(log_px + log_pz - log_qz, axis=-1), params


def _batches(x: np.ndarray, k: int):
    """Row batches of ``x`` with their lengths, all of one size (the last zero-padded), so the rows of a call are
    computed alike however many of them are real."""
    size = max(1, DRAWS_PER_CALL // k)
    size = min(size, max(1, len(x)))
    for start in range(0, len(x), size):
        batch = x[start : start + size]
        n = len(batch)
        if n < size:
            batch = np.concatenate([batch, np.zeros((size - n, x.shape[1]), dtype=batch.dtype)])
        yield batch, n


def conditional_means(vae, x: np.ndarray, eps: np.ndarray) -> np.ndarray:
    """Importance-weighted ``E[x | x_observed]`` ``(n, d)`` for rows ``x`` with NaN where missing (observed entries
    come back as the model's estimate too: the caller keeps the observed values)."""
    out = []
    for batch, n in _batches(np.asarray(x, dtype="float32"), len(eps)):
        weights, params = _weighted_draws(vae, batch, eps)
        means = vae.output_distribution.mean(params)  # (b, K, d)
        out.append(np.asarray(ops.convert_to_numpy(ops.sum(weights[..., None] * means, axis=1)), dtype=np.float64)[:n])
    return np.concatenate(out) if out else np.zeros((0, x.shape[1]))


def conditional_draws(vae, x: np.ndarray, eps: np.ndarray, n_draws: int, rng: np.random.RandomState) -> np.ndarray:
    """``n_draws`` draws from ``p(x | x_observed)`` per row, ``(n_draws, n, d)``, by sampling importance resampling."""
    out = np.zeros((n_draws, len(x), x.shape[1]))
    start = 0
    seed = keras.random.SeedGenerator(int(rng.randint(np.iinfo(np.int32).max)))
    for batch, n in _batches(np.asarray(x, dtype="float32"), len(eps)):
        weights, params = _weighted_draws(vae, batch, eps)
        weights = np.asarray(ops.convert_to_numpy(weights), dtype=np.float64)[:n]
        for j in range(n_draws):
            values = np.asarray(ops.convert_to_numpy(vae.output_distribution.sample(params, seed)), dtype=np.float64)
            cumulative = np.cumsum(weights, axis=1)
            pick = (cumulative < rng.random_sample((n, 1)) * cumulative[:, -1:]).sum(axis=1)
            out[j, start : start + n] = values[np.arange(n), np.minimum(pick, weights.shape[1] - 1)]
        start += n
    return out
