"""The image plots a reviewer looks at in the MLflow UI: inputs beside their reconstructions, and anomaly-map
overlays of the most anomalous images. Each function returns a matplotlib Figure (tables' plots: ``plots.py``)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from pipelines.plots import plt


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


def anomaly_map_overlays(images: np.ndarray, maps: np.ndarray, scores: np.ndarray, threshold: float,
                         titles: list[str] | None = None) -> Figure:
    """Each image (top) and its anomaly map overlaid in colour (bottom), most anomalous first, with its score."""
    n = len(images)
    fig, axes = plt.subplots(2, n, figsize=(1.6 * n, 3.8), squeeze=False)
    top = np.percentile(maps, 99) if maps.size else 1.0
    for i in range(n):
        _show(axes[0, i], images[i])
        flag = "anomaly" if scores[i] > threshold else "normal"
        axes[0, i].set_title(f"{scores[i]:.1f} ({flag})" + (f"\n{titles[i]}" if titles else ""), fontsize=7)
        _show(axes[1, i], images[i])
        axes[1, i].imshow(maps[i], cmap="inferno", alpha=0.6, vmin=np.percentile(maps, 1), vmax=top)
    fig.suptitle("Most anomalous images: where the score comes from (bright = unexplained pixels)")
    fig.tight_layout()
    return fig
