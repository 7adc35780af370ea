"""Per-feature negative log-likelihoods of the decoder's output distribution.

Each function takes the data ``x`` and the decoder's parameters and returns the
NLL per feature, with the same shape as ``x``. They use only ``keras.ops`` so
they run on every backend.
"""

from __future__ import annotations

import math

from keras import ops

LIKELIHOODS = ("gaussian", "heteroscedastic", "mse", "bernoulli")
"""Names accepted by ``VAE(likelihood=...)`` and ``VAEAnomalyDetector(likelihood=...)``.

- ``gaussian``: Gaussian with a learned per-feature variance (the default).
- ``heteroscedastic``: Gaussian whose per-feature variance the decoder predicts for each row.
- ``mse``: Gaussian with unit variance; the NLL is half the squared error plus a constant.
- ``bernoulli``: for data in [0, 1]; the decoder outputs logits.
"""

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)

# Bounds on the decoder's learned log-variance: a constant training column would
# otherwise drive it to -inf and every score to +/-inf.
X_LOG_VAR_MIN = -9.0
X_LOG_VAR_MAX = 9.0


def gaussian_nll(x, mean, log_var):
    """NLL of ``x`` under N(mean, exp(log_var)), per feature."""
    log_var = ops.clip(log_var, X_LOG_VAR_MIN, X_LOG_VAR_MAX)
    return _HALF_LOG_2PI + 0.5 * log_var + 0.5 * ops.square(x - mean) * ops.exp(-log_var)


def mse_nll(x, mean):
    """NLL of ``x`` under N(mean, 1), per feature."""
    return _HALF_LOG_2PI + 0.5 * ops.square(x - mean)


def bernoulli_nll(x, logits):
    """NLL of ``x`` in [0, 1] under Bernoulli(sigmoid(logits)), per feature (stable form)."""
    return ops.softplus(logits) - x * logits


def feature_nll(x, decoded: dict, likelihood: str):
    """Dispatch to the NLL named by ``likelihood``; ``decoded`` is the VAE's output dict."""
    if likelihood in ("gaussian", "heteroscedastic"):
        return gaussian_nll(x, decoded["x_mean"], decoded["x_log_var"])
    if likelihood == "mse":
        return mse_nll(x, decoded["x_mean"])
    if likelihood == "bernoulli":
        return bernoulli_nll(x, decoded["x_mean"])
    raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}.")
