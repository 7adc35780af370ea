"""The PNG plots a reviewer looks at in the MLflow UI. Each function returns a matplotlib Figure."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402


def training_curves(history: dict) -> Figure:
    """Loss, reconstruction and KL per epoch, training and validation."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, key in zip(axes, ["loss", "reconstruction_loss", "kl_loss"]):
        ax.plot(history.get(key, []), label="train")
        if f"val_{key}" in history:
            ax.plot(history[f"val_{key}"], label="validation")
        ax.set(title=key, xlabel="epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend()
    fig.tight_layout()
    return fig


def score_histogram(scores: np.ndarray, threshold: float, reference: np.ndarray | None = None,
                    labels: np.ndarray | None = None, title: str = "Anomaly scores") -> Figure:
    """Score histogram with the threshold line; split by label, or against a reference distribution."""
    fig, ax = plt.subplots(figsize=(7, 4))
    lo, hi = np.percentile(np.concatenate([scores, reference if reference is not None else []]), [0.5, 99.5])
    shown = np.isfinite(threshold)  # an infinite threshold (nothing flagged) has no line
    bins = np.linspace(lo, max(hi, threshold * 1.05 if shown and threshold > 0 else hi), 60)
    if labels is not None:
        ax.hist(scores[labels == 0], bins=bins, alpha=0.6, density=True, label="normal")
        ax.hist(scores[labels == 1], bins=bins, alpha=0.6, density=True, label="anomaly")
    else:
        ax.hist(scores, bins=bins, alpha=0.6, density=True, label="scored")
    if reference is not None:
        ax.hist(reference, bins=bins, histtype="step", density=True, color="k", label="calibration split")
    if shown:
        ax.axvline(threshold, color="red", linestyle="--", label=f"threshold {threshold:.2f}")
    ax.set(title=title, xlabel="anomaly score (higher = more anomalous)", ylabel="density")
    ax.legend()
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
