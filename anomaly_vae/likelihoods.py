"""Per-feature negative log-likelihoods of the decoder's output distribution.

Each function takes the data ``x`` and the decoder's parameters and returns the
NLL per feature, with the same shape as ``x``. They use only ``keras.ops`` so
they run on every backend.

The likelihoods, named in :data:`anomaly_vae.choices.LIKELIHOODS` (``VAE(likelihood=...)``,
``VAEAnomalyDetector(likelihood=...)``):

- ``gaussian``: Gaussian with a learned per-feature variance (the default).
- ``heteroscedastic``: Gaussian whose per-feature variance the decoder predicts for each row.
- ``mse``: Gaussian with unit variance; the NLL is half the squared error plus a constant.
- ``bernoulli``: for data in [0, 1]; the decoder outputs logits.

Whatever the likelihood, one-hot column groups named by ``categorical_groups`` get a categorical
likelihood (see :class:`CategoricalGroups`).
"""

from __future__ import annotations

import math
from numbers import Integral

import numpy as np
from keras import ops

from anomaly_vae.choices import LIKELIHOODS

HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
"""The constant of the Gaussian log-density, ``log(2 pi) / 2``."""

# Bounds on the decoder's learned log-variance: a constant training column would
# otherwise drive it to -inf and every score to +/-inf.
X_LOG_VAR_MIN = -9.0
X_LOG_VAR_MAX = 9.0


def gaussian_nll(x, mean, log_var):
    """NLL of ``x`` under N(mean, exp(log_var)), per feature."""
    log_var = ops.clip(log_var, X_LOG_VAR_MIN, X_LOG_VAR_MAX)
    return HALF_LOG_2PI + 0.5 * log_var + 0.5 * ops.square(x - mean) * ops.exp(-log_var)


def mse_nll(x, mean):
    """NLL of ``x`` under N(mean, 1), per feature."""
    return HALF_LOG_2PI + 0.5 * ops.square(x - mean)


def bernoulli_nll(x, logits):
    """NLL of ``x`` in [0, 1] under Bernoulli(sigmoid(logits)), per feature (stable form)."""
    return ops.softplus(logits) - x * logits


def check_groups(groups, n_features: int) -> tuple[tuple[int, ...], ...]:
    """Validate one-hot column groups: integer indices in range, each group non-empty, no column twice."""
    out, seen = [], set()
    for group in groups or ():
        group = tuple(group)
        if not group or not all(isinstance(c, Integral) and not isinstance(c, bool) for c in group):
            raise ValueError(f"categorical_groups must be non-empty sequences of column indices, got {group!r}.")
        group = tuple(int(c) for c in group)
        bad = [c for c in group if not 0 <= c < n_features]
        if bad:
            raise ValueError(f"categorical_groups: column(s) {bad} out of range for {n_features} features.")
        twice = seen.intersection(group)
        if twice or len(set(group)) < len(group):
            raise ValueError(f"categorical_groups: column(s) {sorted(twice) or group} appear more than once.")
        seen.update(group)
        out.append(group)
    return tuple(out)


class CategoricalGroups:
    """One-hot column groups that get a categorical likelihood: the decoder's outputs for a group are
    logits, and the group's NLL, -log softmax(logits)[category], is put on the column of the row's
    category. An all-zero row (a category unseen in training) gets the NLL of the group's least likely
    category, spread evenly over its columns: at least as unusual as any category the model knows."""

    def __init__(self, groups, n_features: int):
        self.groups = [list(map(int, g)) for g in groups]
        columns = [c for g in self.groups for c in g]
        self.placement = np.zeros((len(columns), n_features), dtype="float32")  # group columns -> their places
        self.placement[np.arange(len(columns)), columns] = 1.0
        self.mask = np.zeros(n_features, dtype=bool)
        self.mask[columns] = True

    def nll(self, x, logits):
        """Per-feature NLL ``(..., d)``: the groups' categorical terms, zero on the other columns."""
        parts = []
        for g in self.groups:
            xg, nll = ops.take(x, g, axis=-1), -ops.log_softmax(ops.take(logits, g, axis=-1), axis=-1)
            unseen = 1.0 - ops.sum(xg, axis=-1, keepdims=True)
            parts.append(xg * nll + unseen * ops.max(nll, axis=-1, keepdims=True) / len(g))
        return ops.matmul(ops.concatenate(parts, axis=-1), ops.convert_to_tensor(self.placement))


def feature_nll(x, decoded: dict, likelihood: str, categorical: CategoricalGroups | None = None):
    """Dispatch to the NLL named by ``likelihood``; ``decoded`` is the VAE's output dict. Columns in
    ``categorical`` groups get the categorical NLL instead."""
    if likelihood in ("gaussian", "heteroscedastic"):
        nll = gaussian_nll(x, decoded["x_mean"], decoded["x_log_var"])
    elif likelihood == "mse":
        nll = mse_nll(x, decoded["x_mean"])
    elif likelihood == "bernoulli":
        nll = bernoulli_nll(x, decoded["x_mean"])
    else:
        raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}.")
    if categorical is None:
        return nll
    return ops.where(ops.convert_to_tensor(categorical.mask), categorical.nll(x, decoded["x_mean"]), nll)
