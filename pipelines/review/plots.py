"""The PNG plots a reviewer looks at in the MLflow UI. Each function returns a matplotlib Figure."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402


def training_curves(history: dict, kept_epoch: int | None = None) -> Figure:
    """Loss, reconstruction and KL per epoch (counted from 1), training and validation, with the epoch whose
    weights early stopping kept."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, key in zip(axes, ["loss", "reconstruction_loss", "kl_loss"]):
        values = history.get(key, [])
        epochs = np.arange(1, len(values) + 1)
        ax.plot(epochs, values, label="train")
        if f"val_{key}" in history:
            ax.plot(epochs, history[f"val_{key}"], label="validation")
        if kept_epoch:
            ax.axvline(kept_epoch, color="red", linestyle="--", lw=1, label=f"epoch {kept_epoch} kept")
        ax.set(title=key, xlabel="epoch", ylabel="nats per example")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def score_axis(
    scores: np.ndarray, threshold: float, reference: np.ndarray | None = None, labels: np.ndarray | None = None
) -> tuple[float, float]:
    """The score axis of a histogram: the normal scores (the reference, else the label-0 scores, else all) from
    their 0.5th to 99.5th percentile and the threshold, with a margin; a few huge anomaly scores stay off it."""
    scores = np.asarray(scores, dtype=float)
    normal = np.asarray(
        reference if reference is not None else scores[labels == 0] if labels is not None else scores, dtype=float
    )
    normal = normal[np.isfinite(normal)]
    lo, hi = np.percentile(normal, [0.5, 99.5]) if len(normal) else (np.min(scores), np.max(scores))
    if np.isfinite(threshold):
        lo, hi = min(lo, threshold), max(hi, threshold)
    span = (hi - lo) or 1.0
    return float(lo - 0.05 * span), float(hi + 0.15 * span)


def score_histogram(
    scores: np.ndarray,
    threshold: float,
    reference: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    title: str = "Anomaly scores",
) -> Figure:
    """Score histogram with the threshold line; split by label, or against a reference distribution.

    The axis spans the normal scores (the reference, else the label-0 scores, else all) and the threshold, so
    that a few huge anomaly scores do not squeeze every normal row into one bar; scores beyond the axis are
    drawn in its last bin and counted in the legend."""
    fig, ax = plt.subplots(figsize=(7, 4))
    scores = np.asarray(scores, dtype=float)
    lo, hi = score_axis(scores, threshold, reference, labels)
    shown = np.isfinite(threshold)  # an infinite threshold (nothing flagged) has no line
    bins = np.linspace(lo, hi, 60).tolist()

    def drawn(values, name):
        beyond = int(np.sum(values > hi))
        return np.clip(values, lo, hi), name + (f" ({beyond} beyond the axis, in the last bin)" if beyond else "")

    if labels is not None:
        for value, name in [(0, "normal"), (1, "anomaly")]:
            values, name = drawn(scores[labels == value], name)
            ax.hist(values, bins=bins, alpha=0.6, density=True, label=name)
    else:
        values, name = drawn(scores, "scored")
        ax.hist(values, bins=bins, alpha=0.6, density=True, label=name)
    if reference is not None:
        values, name = drawn(np.asarray(reference, dtype=float), "calibration split")
        ax.hist(values, bins=bins, histtype="step", density=True, color="k", label=name)
    if shown:
        ax.axvline(threshold, color="red", linestyle="--", label=f"threshold {threshold:.4g}")
    ax.set(title=title, xlabel="anomaly score (higher = more anomalous)", ylabel="density")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def roc_pr_curves(labels: np.ndarray, scores: np.ndarray) -> Figure:
    """ROC and precision-recall curves, with their areas in the legend."""
    from sklearn.metrics import PrecisionRecallDisplay, RocCurveDisplay

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    RocCurveDisplay.from_predictions(labels, scores, ax=ax1, name="VAE")
    ax1.plot([0, 1], [0, 1], "k:", lw=1)
    PrecisionRecallDisplay.from_predictions(labels, scores, ax=ax2, name="VAE")
    ax1.set_title("ROC")
    ax2.set_title("Precision-recall")
    fig.tight_layout()
    return fig


def latent_view(z_mean: np.ndarray, labels: np.ndarray | None = None) -> Figure:
    """The latent means in 2-D (first two principal components when the latent size exceeds 2)."""
    z = z_mean
    if z.shape[1] > 2:
        from sklearn.decomposition import PCA

        z = PCA(n_components=2).fit_transform(z)
    elif z.shape[1] == 1:
        z = np.column_stack([z[:, 0], np.zeros(len(z))])
    fig, ax = plt.subplots(figsize=(5.5, 5))
    if labels is None:
        ax.scatter(z[:, 0], z[:, 1], s=6, alpha=0.5)
    else:
        for value, name in [(0, "normal"), (1, "anomaly")]:
            mask = labels == value
            ax.scatter(z[mask, 0], z[mask, 1], s=6 if value == 0 else 14, alpha=0.5, label=name)
        ax.legend()
    ax.set(title="Latent means" + (" (PCA)" if z_mean.shape[1] > 2 else ""), xlabel="z1", ylabel="z2")
    fig.tight_layout()
    return fig


def feature_score_bars(mean_scores: pd.Series, title: str = "Mean per-feature score") -> Figure:
    """Mean per-feature reconstruction NLL, largest first."""
    s = mean_scores.sort_values()
    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.3 * len(s) + 1)))
    ax.barh([str(i) for i in s.index], s.to_numpy())
    ax.set(title=title, xlabel="mean negative log-likelihood")
    fig.tight_layout()
    return fig
