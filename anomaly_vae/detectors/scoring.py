"""Anomaly scores computed from a trained ``VAE``, inside one compiled Keras function.

All scores are "higher = more anomalous" and use the model's fixed ``score_noise`` draws, so they are
deterministic and independent per example. For a model that marginalises missing entries (``VAE(missing=True)``),
a row's per-element NLL on its observed entries is scaled by ``n_features / n_observed``, so a row with missing
entries scores on the scale of a complete one instead of looking normal for having fewer terms (on the ADBench
sets with 20% of the test entries hidden this ranked better than the unscaled bound: ``benchmarks/RESULTS.md``,
"Missing values"). Every rule is a function of the same per-element terms
(:class:`ScoreTerms`), reduced over all event axes of an example (a row's features, an image's pixels).

The rules, one registry :data:`SCORE_RULES` named in :data:`anomaly_vae.choices.SCORES`
(``VAEAnomalyDetector(score_rule=...)``):

- ``elbo``: negative ELBO, i.e. reconstruction NLL averaged over draws + KL (the default).
- ``reconstruction``: the reconstruction NLL alone.
- ``kl``: the KL term alone.
- ``recon_prob``: An & Cho's reconstruction probability, -log mean_s p(x | z_s).
- ``iwae``: importance-weighted bound on -log p(x) with the model's draws.
- ``worst``: the reconstruction NLL of the example's worst-explained elements only, the ``WORST_SHARE`` of its
  pixels (features, time steps) with the highest NLL, summed: a robust aggregate of the anomaly map, so an image is
  judged by what the model could not explain rather than diluted by the many background pixels every digit shares.
  It ranked one-class MNIST better than the ELBO on every digit (``benchmarks/HISTORY.md``, "Images").
- ``worst_region``: ``worst`` on the anomaly map averaged over each element's neighbourhood first (``REGION_SIDE``
  elements along every spatial axis: 5 x 5 pixels of an image, 5 time steps of a window of the convolutional series
  network; a table's row, like a window flattened for the dense series network, has no spatial axis, so there it
  equals ``worst``). An anomaly is a stroke or a patch, not a lone pixel: the averaged map ranks a region the model
  cannot explain above scattered pixels it explains a little worse than usual. On one-class MNIST it ranked digits 2
  to 9 better than ``worst`` and 0 and 1 within 0.0005 (``benchmarks/HISTORY.md``, "Images").
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import keras
import numpy as np
from keras import ops

from anomaly_vae import choices
from anomaly_vae.network.elbo import kl_to_standard_normal, sum_event
from anomaly_vae.network.likelihoods import HALF_LOG_2PI


@dataclass
class ScoreTerms:
    """What every score rule reads, for ``n`` examples, ``M`` members and ``S`` fixed draws:
    ``nll`` per element ``(M, n, S, *event)``, its mean over the draws ``features`` ``(M, n, *event)``,
    ``kl`` ``(M, n)``, the draws ``z`` ``(M, n, S, L)``, the standard-normal ``eps`` ``(S, L)`` behind them
    and ``z_log_var`` ``(M, n, L)``."""

    nll: object
    features: object
    kl: object
    z: object
    eps: np.ndarray
    z_log_var: object

    @functools.cached_property
    def log_px(self):
        """log p(x | z_s) per draw, ``(M, n, S)``."""
        return -sum_event(self.nll, 3)

    @property
    def n_draws(self) -> int:
        return self.eps.shape[0]


def _reconstruction(t: ScoreTerms):
    return sum_event(t.features, 2)


def _recon_prob(t: ScoreTerms):
    return math.log(t.n_draws) - ops.logsumexp(t.log_px, axis=2)


def _iwae(t: ScoreTerms):
    log_pz = -ops.sum(0.5 * ops.square(t.z) + HALF_LOG_2PI, axis=-1)
    eps_term = ops.sum(0.5 * ops.square(t.eps) + HALF_LOG_2PI, axis=-1)
    log_qz = -eps_term - 0.5 * ops.sum(t.z_log_var, axis=-1, keepdims=True)
    return math.log(t.n_draws) - ops.logsumexp(t.log_px + log_pz - log_qz, axis=2)


WORST_SHARE = 0.1
"""Share of an example's elements (at least one) whose NLL the ``worst`` rule sums: 78 of a 28 x 28 image's 784
pixels (5% ranked MNIST about as well, 20% a little worse: ``benchmarks/HISTORY.md``, "Images")."""


def worst_count(n_elements: int) -> int:
    """How many of an example's ``n_elements`` elements the ``worst`` rule sums."""
    return max(1, int(round(WORST_SHARE * n_elements)))


def _worst_sum(features):
    shape = ops.shape(features)  # (M, n, *event)
    n_elements = math.prod(shape[2:])
    flat = ops.reshape(features, (shape[0], -1, n_elements))
    return ops.sum(ops.top_k(flat, worst_count(n_elements), sorted=False)[0], axis=-1)


REGION_SIDE = 5
"""Elements along each spatial axis of the neighbourhood the ``worst_region`` rule averages the map over: 5 x 5 pixels,
about a stroke of a 28 x 28 digit and its edges (3 ranked one-class MNIST a little worse, 7 about the same:
``benchmarks/HISTORY.md``, "Images")."""


def box_mean(x, axis: int, side: int = REGION_SIDE):
    """Mean of each element's ``side`` neighbours along ``axis`` (itself in the middle), the tensor zero-padded at both
    ends, so every element averages ``side`` values: ``scipy.ndimage.uniform_filter1d(..., mode="constant")``."""
    before = side // 2
    shape = ops.shape(x)
    padding = [(0, 0)] * len(shape)
    padding[axis] = (before, side - 1 - before)
    padded = ops.pad(x, padding)
    length = shape[axis]  # a spatial side: static even where the batch axis is not
    total = 0.0
    for shift in range(side):
        window = [slice(None)] * len(shape)
        window[axis] = slice(shift, shift + length)
        total = total + padded[tuple(window)]
    return total / side


def _worst_region(t: ScoreTerms):
    smoothed = t.features  # (M, n, *spatial, channels): a table's event has only the last axis, and is not smoothed
    for axis in range(2, len(ops.shape(smoothed)) - 1):
        smoothed = box_mean(smoothed, axis)
    return _worst_sum(smoothed)


SCORE_RULES = {
    "elbo": lambda t: _reconstruction(t) + t.kl,
    "reconstruction": _reconstruction,
    "kl": lambda t: t.kl,
    "recon_prob": _recon_prob,
    "iwae": _iwae,
    "worst": lambda t: _worst_sum(t.features),
    "worst_region": _worst_region,
}
"""Score rule name -> function of :class:`ScoreTerms` giving ``(M, n)`` scores (higher = more anomalous)."""

assert tuple(SCORE_RULES) == choices.SCORES, "choices.SCORES must list the registry's names"


def score_terms(vae, x, score: str = "elbo"):
    """Scores ``(n,)`` and per-element reconstruction NLL ``(n, *event)`` (averaged over the draws) for
    examples ``x``. Each ensemble member scores on its own; both outputs are the members' mean."""
    if score not in SCORE_RULES:
        raise ValueError(f"score must be one of {choices.SCORES}, got {score!r}.")
    x = ops.cast(x, "float32")
    z_mean, z_log_var = vae.encode(x)  # (M, n, L)
    z_mean = ops.cast(z_mean, "float32")
    z_log_var = ops.cast(z_log_var, "float32")
    eps = ops.cast(ops.convert_to_tensor(vae.score_noise), "float32")  # (S, L)
    n_draws, latent = eps.shape
    members = vae.n_members
    z = ops.expand_dims(z_mean, 2) + ops.expand_dims(ops.exp(0.5 * z_log_var), 2) * eps  # (M, n, S, L)
    decoded = vae.decode(ops.reshape(z, (members, -1, latent)))
    draws = (members, -1, n_draws, *vae.event_shape)
    shared = vae.output_distribution.shared_heads
    decoded = {  # per-example outputs regain their draw axis; the learned (M, 1, *event) heads broadcast
        k: ops.cast(v[:, :, None] if k in shared else ops.reshape(v, draws), "float32") for k, v in decoded.items()
    }
    nll = vae.output_distribution.nll(x[None, :, None], decoded)  # (M, n, S, *event)
    if vae.missing:  # NaN entries are missing and cost nothing: scale the observed ones' NLL to the full row
        observed = ops.sum(ops.cast(ops.isfinite(x), "float32"), axis=-1)
        nll = nll * (x.shape[-1] / ops.maximum(observed, 1.0))[None, :, None, None]
    features = ops.mean(nll, axis=2)
    terms = ScoreTerms(
        nll=nll, features=features, kl=kl_to_standard_normal(z_mean, z_log_var), z=z, eps=eps, z_log_var=z_log_var
    )
    return ops.mean(SCORE_RULES[score](terms), axis=0), ops.mean(features, axis=0)


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
is zero-padded), so a row's float32 score never depends on the other rows that came with it,
and the function is compiled once; inputs of at most ``SMALL_SCORE_BATCH_SIZE`` rows use that shape instead."""

SMALL_SCORE_BATCH_SIZE = 256
"""Rows per scoring call for an input of at most this many rows (a served request, an interactive call), on any
device: padding one row to 4,096 made it cost nearly as much as 4,096 (about 50 ms on CPU; about 3 ms at 256).
The two shapes give the same scores within float32 rounding: bitwise on torch, within a few units in the last
place on JAX and TensorFlow, whose compiled matrix products block differently per shape (``benchmarks/RESULTS.md``,
"Served model")."""

GPU_SCORE_BATCH_SIZE = 65536
"""Rows per scoring call on a GPU, where per-call overhead dominates small batches."""

IMAGE_SCORE_BATCH_SIZE = 128
"""Images per scoring call on CPU (each is decoded ``n_score_samples`` times: 2,048 decodes a call)."""

GPU_IMAGE_SCORE_BATCH_SIZE = 1024


@functools.lru_cache(maxsize=2)
def score_batch_size(images: bool = False) -> int:
    """The fixed scoring batch for the device the backend computes on, for rows or for images."""
    from anomaly_vae.network.steps import device_description

    gpu = device_description().startswith("GPU")
    if images:
        return GPU_IMAGE_SCORE_BATCH_SIZE if gpu else IMAGE_SCORE_BATCH_SIZE
    return GPU_SCORE_BATCH_SIZE if gpu else SCORE_BATCH_SIZE


def predict_scores(scorer: ScoreModel, x: np.ndarray, batch_size: int | None = None):
    """Run ``scorer`` over ``x`` in fixed-size batches; float64 scores (and features if asked).

    Batches go straight to the compiled function (``predict_on_batch``), with no
    dataset pipeline in between, which is faster than ``predict`` (``benchmarks/RESULTS.md``, "Speed").
    """
    x = np.asarray(x, dtype="float32")
    if batch_size is None:
        batch_size = score_batch_size(images=x.ndim > 2)
        if x.ndim == 2 and len(x) <= SMALL_SCORE_BATCH_SIZE < batch_size:  # a small input of rows: a small shape
            batch_size = SMALL_SCORE_BATCH_SIZE
    if not scorer.compiled:
        scorer.compile(jit_compile=keras.backend.backend() != "torch")
    n = len(x)
    scores, features = [], []
    for start in range(0, n, batch_size):
        batch = x[start : start + batch_size]
        if len(batch) < batch_size:
            batch = np.concatenate([batch, np.zeros((batch_size - len(batch), *x.shape[1:]), dtype="float32")])
        out = scorer.predict_on_batch(batch)
        if scorer.features:
            scores.append(np.asarray(out[0]))
            features.append(np.asarray(out[1]))
        else:
            scores.append(np.asarray(out))
    all_scores = np.concatenate(scores)[:n].astype(np.float64) if n else np.zeros(0)
    if scorer.features:
        feats = np.concatenate(features)[:n].astype(np.float64) if n else np.zeros((0, *x.shape[1:]))
        return all_scores, feats
    return all_scores
