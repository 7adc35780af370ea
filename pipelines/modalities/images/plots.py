"""The image plots a reviewer looks at in the MLflow UI: inputs beside their reconstructions, anomaly-map
overlays of the most anomalous images, samples from the model and an interpolation between two images. Each function returns a matplotlib Figure (tables' plots: ``plots.py``)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from pipelines.review.plots import plt


def _show(ax, image: np.ndarray) -> None:
    """One image, uint8 or float in [0, 1], grey (``cmap='gray'``) or RGB, without axes."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=255 if image.dtype == np.uint8 else 1)
    ax.set_axis_off()


def reconstruction_grid(images: np.ndarray, reconstructions: np.ndarray, titles: list[str] | None = None) -> Figure:
    """Inputs (top row) above the decoder's mean reconstructions (bottom row), one column per image."""
    n = len(images)
    fig, axes = plt.subplots(2, n, figsize=(1.6 * n, 3.6), squeeze=False)
    for i in range(n):
        _show(axes[0, i], images[i])
        _show(axes[1, i], reconstructions[i])
        if titles:
            axes[0, i].set_title(titles[i], fontsize=7)
    axes[0, 0].text(-0.1, 0.5, "input", transform=axes[0, 0].transAxes, rotation=90, va="center", ha="right")
    axes[1, 0].text(-0.1, 0.5, "reconstruction", transform=axes[1, 0].transAxes, rotation=90, va="center", ha="right")
    fig.suptitle("Inputs and their reconstructions")
    fig.tight_layout()
    return fig


def anomaly_map_overlays(
    images: np.ndarray, maps: np.ndarray, scores: np.ndarray, threshold: float, titles: list[str] | None = None
) -> Figure:
    """Each image (top) and its anomaly map overlaid in colour (bottom), most anomalous first, with its score."""
    n = len(images)
    fig, axes = plt.subplots(2, n, figsize=(1.6 * n + 1.0, 3.8), squeeze=False)
    top = np.percentile(maps, 99) if maps.size else 1.0
    low = np.percentile(maps, 1) if maps.size else 0.0
    shown = None
    for i in range(n):
        _show(axes[0, i], images[i])
        flag = "anomaly" if scores[i] > threshold else "normal"
        axes[0, i].set_title(f"{scores[i]:.1f} ({flag})" + (f"\n{titles[i]}" if titles else ""), fontsize=7)
        _show(axes[1, i], images[i])
        shown = axes[1, i].imshow(maps[i], cmap="inferno", alpha=0.6, vmin=low, vmax=top)
    fig.suptitle("Most anomalous images: where the score comes from (bright = unexplained pixels)")
    fig.tight_layout()
    if shown is not None:  # one shared scale: every map is drawn between the same two values
        bar = fig.colorbar(shown, ax=list(axes[1]), fraction=0.03, pad=0.01)
        bar.set_label("pixel's negative log-likelihood (nats)", fontsize=7)
        bar.ax.tick_params(labelsize=7)
    return fig


def sample_grid(
    images: np.ndarray,
    columns: int = 8,
    title: str = "Samples: latent codes from the prior, decoded (the decoder's mean)",
) -> Figure:
    """Images decoded from drawn latent codes (the decoder's means), in a grid; ``title`` says where the codes
    came from."""
    n = len(images)
    rows = -(-n // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(1.2 * columns, 1.2 * rows + 0.5), squeeze=False)
    for ax, i in zip(axes.flat, range(rows * columns)):
        if i < n:
            _show(ax, images[i])
        else:
            ax.set_axis_off()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def interpolation_strip(
    path: np.ndarray, start_image: np.ndarray, end_image: np.ndarray, start: str, end: str
) -> Figure:
    """The two input images at the ends, and between them the decoded points on the straight line between their
    codes (a one-class model decodes an anomalous input as something like its normal data)."""
    images = [start_image, *path, end_image]
    n = len(images)
    fig, axes = plt.subplots(1, n, figsize=(1.3 * n, 2.1), squeeze=False)
    for i in range(n):
        _show(axes[0, i], images[i])
    axes[0, 0].set_title(f"input\n{start}", fontsize=7)
    axes[0, -1].set_title(f"input\n{end}", fontsize=7)
    axes[0, 1].set_title("decoded", fontsize=7)
    fig.suptitle("Interpolation between two images' latent codes")
    fig.tight_layout()
    return fig
