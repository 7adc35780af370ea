"""Anomaly scores computed from a trained ``VAE``, inside one compiled Keras function.

All scores are "higher = more anomalous" and use the model's fixed
``score_noise`` draws, so they are deterministic and independent per row.

The rules, named in :data:`anomaly_vae.choices.SCORES` (``VAEAnomalyDetector(score_rule=...)``):

- ``elbo``: negative ELBO, i.e. reconstruction NLL averaged over draws + KL (the default).
- ``reconstruction``: the reconstruction NLL alone.
- ``kl``: the KL term alone.
- ``recon_prob``: An & Cho's reconstruction probability, -log mean_s p(x | z_s).
- ``iwae``: importance-weighted bound on -log p(x) with the model's draws.
"""

from __future__ import annotations

import functools
import math

import keras
import numpy as np
from keras import ops

from anomaly_vae.choices import SCORES
from anomaly_vae.elbo import kl_to_standard_normal
from anomaly_vae.likelihoods import HALF_LOG_2PI, feature_nll


def score_terms(vae, x, score: str = "elbo"):
    """Row scores ``(n,)`` and per-feature reconstruction NLL ``(n, d)`` for rows ``x``.

    Each ensemble member scores the rows on its own; both outputs are the members' mean.
    """
    x = ops.cast(x, "float32")
    z_mean, z_log_var = vae.encode(x)  # (M, n, L)
    z_mean = ops.cast(z_mean, "float32")
    z_log_var = ops.cast(z_log_var, "float32")
    eps = ops.cast(ops.convert_to_tensor(vae.score_noise), "float32")  # (S, L)
    n_draws, latent = eps.shape
    members = vae.n_members
    z = ops.expand_dims(z_mean, 2) + ops.expand_dims(ops.exp(0.5 * z_log_var), 2) * eps  # (M, n, S, L)
    decoded = vae.decode(ops.reshape(z, (members, -1, latent)))
    draws = (members, -1, n_draws, vae.n_features)
    decoded = {  # per-row outputs regain their draw axis; the learned (M, 1, d) variance broadcasts
        k: ops.cast(ops.reshape(v, draws) if k == "x_mean" or vae.likelihood == "heteroscedastic" else v[:, :, None], "float32")
        for k, v in decoded.items()
    }
    nll = feature_nll(x[None, :, None], decoded, vae.likelihood, vae.categorical)  # (M, n, S, d)
    features = ops.mean(nll, axis=2)
    recon = ops.sum(features, axis=-1)
    kl = kl_to_standard_normal(z_mean, z_log_var)  # (M, n)
    if score == "elbo":
        scores = recon + kl
    elif score == "reconstruction":
        scores = recon
    elif score == "kl":
        scores = kl
    elif score == "recon_prob":
        log_px = -ops.sum(nll, axis=-1)  # (M, n, S)
        scores = math.log(n_draws) - ops.logsumexp(log_px, axis=2)
    elif score == "iwae":
        log_px = -ops.sum(nll, axis=-1)
        log_pz = -ops.sum(0.5 * ops.square(z) + HALF_LOG_2PI, axis=-1)
        eps_term = ops.sum(0.5 * ops.square(eps) + HALF_LOG_2PI, axis=-1)
        log_qz = -eps_term - 0.5 * ops.sum(z_log_var, axis=-1, keepdims=True)
        scores = math.log(n_draws) - ops.logsumexp(log_px + log_pz - log_qz, axis=2)
    else:
        raise ValueError(f"score must be one of {SCORES}, got {score!r}.")
    return ops.mean(scores, axis=0), ops.mean(features, axis=0)


class ScoreModel(keras.Model):
    """Wraps a ``VAE`` so ``predict`` runs the whole score in one compiled function per backend."""

    def __init__(self, vae, score: str = "elbo", features: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.vae = vae
        self.score = score
        self.features = features
        # No weights of its own and the VAE is built: without this, the first predict
        # runs one eager forward pass to "build" it, compiling every op on its own under JAX.
        self.built = True

    def call(self, x):
        scores, features = score_terms(self.vae, x, self.score)
        return (scores, features) if self.features else scores


SCORE_BATCH_SIZE = 4096
"""Rows per compiled scoring call on CPU. Every call sees exactly this shape (the last batch
is zero-padded), so a row's float32 score does not depend on how many rows came with it,
and the function is compiled once."""

GPU_SCORE_BATCH_SIZE = 65536
"""Rows per scoring call on a GPU, where per-call overhead dominates small batches."""


@functools.lru_cache(maxsize=1)
def score_batch_size() -> int:
    """The fixed scoring batch for the device the backend computes on."""
    from anomaly_vae.steps import device_description

    return GPU_SCORE_BATCH_SIZE if device_description().startswith("GPU") else SCORE_BATCH_SIZE


def predict_scores(scorer: ScoreModel, x: np.ndarray, batch_size: int | None = None):
    """Run ``scorer`` over ``x`` in fixed-size batches; float64 scores (and features if asked).

    Batches go straight to the compiled function (``predict_on_batch``), with no
    dataset pipeline in between, which is faster than ``predict`` (``benchmarks/RESULTS.md``, "Speed").
    """
    batch_size = batch_size or score_batch_size()
    if not scorer.compiled:
        scorer.compile(jit_compile=keras.backend.backend() != "torch")
    x = np.asarray(x, dtype="float32")
    n = len(x)
    scores, features = [], []
    for start in range(0, n, batch_size):
        batch = x[start : start + batch_size]
        if len(batch) < batch_size:
            batch = np.concatenate([batch, np.zeros((batch_size - len(batch), x.shape[1]), dtype="float32")])
        out = scorer.predict_on_batch(batch)
        if scorer.features:
            scores.append(np.asarray(out[0]))
            features.append(np.asarray(out[1]))
        else:
            scores.append(np.asarray(out))
    scores = np.concatenate(scores)[:n].astype(np.float64) if n else np.zeros(0)
    if scorer.features:
        feats = np.concatenate(features)[:n].astype(np.float64) if n else np.zeros((0, x.shape[1]))
        return scores, feats
    return scores