"""Training with known anomalies: the ELBO of the normal examples plus a deviation hinge on the labelled anomalies.

A user often holds a few confirmed anomalies. ``VAEAnomalyDetector(use_labels=True).fit(X, y)`` trains on them
with :func:`labelled_elbo_loss`: the normal examples (``y == 0``) contribute the beta-weighted negative ELBO, exactly
as in unsupervised training, so the model of normal data is unchanged in kind; each labelled anomaly (``y == 1``)
contributes ``max(0, MARGIN - d)``, where ``d`` is its anomaly score (the negative ELBO) in standard deviations above
the mean score of the batch's normal examples. This is DevNet's deviation loss (Pang et al., KDD 2019) on the VAE's own
score, in the spirit of Deep SAD (Ruff et al., ICLR 2020): the hinge stops pulling once an anomaly scores ``MARGIN``
deviations out, so a handful of rows cannot take over the training, and the normal rows' mean and spread are held
constant in its gradient (a model cannot win by widening the normal scores).

Few labelled rows would rarely meet a batch, so :func:`with_known_anomalies` repeats them to ``SHARE`` of the
training rows; the per-kind means in the loss keep the normal examples' ELBO on its usual scale whatever that share.
The choice of margin and share is measured in ``benchmarks/known_anomalies.py`` (``benchmarks/HISTORY.md``).
"""

from __future__ import annotations

import numpy as np
from keras import ops

from anomaly_vae.network.elbo import elbo_terms, sum_event

MARGIN = 5.0
"""Standard deviations above the normal examples' mean score a labelled anomaly is pushed to (DevNet's value)."""

SHARE = 0.125
"""Share of the training rows (after repetition) that are labelled anomalies: about 16 rows in a batch of 128."""


def labelled_elbo_loss(x, outputs: dict, likelihood, beta, labels):
    """The loss of a batch with ``labels`` (1 = known anomaly, 0 = normal), and its normal rows' reconstruction
    NLL and KL (the metrics, on the scale of an unlabelled fit's).

    The anomaly term is a mean over the batch's labelled anomalies (0 when it has none), the ELBO a mean over its
    normal rows; both are averaged over the ensemble members.
    """
    recon, kl = elbo_terms(x, outputs, likelihood)
    recon = sum_event(recon, len(recon.shape) - len(x.shape) + 1)  # (members, n)
    anomalous = ops.cast(ops.reshape(labels, (-1,)), "float32")
    normal = 1.0 - anomalous
    n_normal = ops.maximum(ops.sum(normal), 1.0)
    n_anomalous = ops.maximum(ops.sum(anomalous), 1.0)

    def normal_mean(t):
        return ops.mean(ops.sum(t * normal, axis=-1)) / n_normal

    reconstruction_loss, kl_loss = normal_mean(recon), normal_mean(kl)
    score = recon + kl  # the true negative ELBO, the anomaly score
    centre = ops.sum(score * normal, axis=-1, keepdims=True) / n_normal
    spread = ops.sqrt(ops.sum(ops.square(score - centre) * normal, axis=-1, keepdims=True) / n_normal + 1e-6)
    deviation = (score - ops.stop_gradient(centre)) / ops.stop_gradient(spread)
    hinge = ops.relu(MARGIN - deviation)
    anomaly_loss = ops.mean(ops.sum(hinge * anomalous, axis=-1)) / n_anomalous
    return reconstruction_loss + beta * kl_loss + anomaly_loss, reconstruction_loss, kl_loss


def with_known_anomalies(X_train: np.ndarray, X_known: np.ndarray, batch_size: int, whole_batches: bool):
    """The training rows with the known anomalies appended, repeated to ``SHARE`` of the total (at least once
    each), and their labels; with ``whole_batches`` the total is rounded up to a multiple of ``batch_size`` (the
    repetitions fill it), so an ``epochs='auto'`` epoch stays whole batches."""
    n = len(X_train)
    n_known = max(len(X_known), int(np.ceil(SHARE / (1.0 - SHARE) * n)))
    if whole_batches:
        n_known = -(-(n + n_known) // batch_size) * batch_size - n
    known = np.resize(X_known, (n_known, *X_known.shape[1:])).astype(X_train.dtype)
    labels = np.concatenate([np.zeros(n, dtype=np.float32), np.ones(n_known, dtype=np.float32)])
    return np.concatenate([X_train, known]), labels
