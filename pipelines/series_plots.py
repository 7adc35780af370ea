"""The review plot of a time-series run: the series above its per-point score, the threshold, flagged stretches and
labelled anomalies, on one shared time axis."""

from __future__ import annotations

import numpy as np

from pipelines.plots import plt


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``(start, stop)`` of each run of True (stop exclusive)."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def series_scores(values: np.ndarray, columns, scores: np.ndarray, threshold: float, times=None, labels=None,
                  title: str = "Series and anomaly score"):
    """Top: each value column; bottom: the score with the threshold. Flagged stretches (score above the threshold)
    are shaded red in both; labelled anomalies (when given) are shaded grey behind them."""
    x = np.arange(len(scores)) if times is None else np.asarray(times)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 5.5), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    for j, name in enumerate(columns[:6]):  # more channels than six would hide each other
        top.plot(x, values[:, j], lw=0.8, label=str(name))
    bottom.plot(x, scores, lw=0.8, color="black", label="anomaly score")
    if np.isfinite(threshold):
        bottom.axhline(threshold, color="red", ls="--", lw=1, label=f"threshold {threshold:.3g}")
    last = len(x) - 1
    for axis in (top, bottom):
        if labels is not None:
            for i, (start, stop) in enumerate(_runs(np.asarray(labels) > 0)):
                axis.axvspan(x[start], x[min(stop, last)], color="0.75", alpha=0.6, lw=0,
                             label="labelled anomaly" if i == 0 and axis is top else None)
        for i, (start, stop) in enumerate(_runs(scores > threshold)):
            axis.axvspan(x[start], x[min(stop, last)], color="red", alpha=0.25, lw=0,
                         label="flagged" if i == 0 and axis is top else None)
    top.set_title(title)
    top.legend(loc="upper right", fontsize=8, ncol=4)
    bottom.legend(loc="upper right", fontsize=8)
    bottom.set_xlabel("time")
    fig.tight_layout()
    return fig
