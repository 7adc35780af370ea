"""The review plot of a time-series run: an overview of the whole series and its per-point score, lanes of the
flagged and the labelled stretches, and zoomed panels around the highest-scoring stretches."""

from __future__ import annotations

import numpy as np

from pipelines.review.plots import plt

MAX_DRAWN_POINTS = 2_000
"""Beyond this many points the overview draws each column as its min-max band per bin (a line through 10,000
points is a solid band at this width)."""
N_ZOOMS = 3
"""Zoomed panels below the overview: the stretches with the highest scores (flagged or labelled)."""


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``(start, stop)`` of each run of True (stop exclusive)."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def _draw(ax, x: np.ndarray, y: np.ndarray, **style) -> None:
    """``y`` against ``x``; past ``MAX_DRAWN_POINTS`` as a min-max band per bin with its mean line."""
    if len(y) <= MAX_DRAWN_POINTS:
        ax.plot(x, y, lw=0.8, **style)
        return
    bins = np.array_split(np.arange(len(y)), MAX_DRAWN_POINTS // 2)
    xb = np.array([x[b[0]] for b in bins])
    lo, hi, mid = (np.array([f(y[b]) for b in bins]) for f in (np.min, np.max, np.mean))
    (line,) = ax.plot(xb, mid, lw=0.6, **style)
    ax.fill_between(xb, lo, hi, color=line.get_color(), alpha=0.35, lw=0)


def _score_limits(scores: np.ndarray, threshold: float) -> tuple[float, float]:
    """A score axis that shows the threshold and the bulk of the scores: a few huge spikes are clipped (and
    said so), so the threshold does not sit on the axis' floor."""
    top = np.nanpercentile(scores, 99.5)
    if np.isfinite(threshold):
        top = max(top, threshold)
    bottom = np.nanmin(scores)
    return bottom - 0.05 * (top - bottom), top + 0.3 * (top - bottom or 1.0)


def _lanes(ax, x: np.ndarray, flagged: np.ndarray, labels) -> None:
    """Flagged and labelled stretches in lanes of their own, so neither hides the other."""
    last = len(x) - 1
    # a stretch of a few points is drawn at least 1/600 of the axis wide, so that it can be seen
    pad = (x[-1] - x[0]) / 1200 if len(x) > 1 and np.issubdtype(np.asarray(x).dtype, np.number) else 0
    lanes = [("flagged", flagged, "red")]
    if labels is not None:
        lanes.append(("labelled", np.asarray(labels) > 0, "0.35"))
    for row, (_, mask, colour) in enumerate(lanes):
        for start, stop in _runs(mask):
            ax.axvspan(
                x[start] - pad,
                x[min(stop, last)] + pad,
                ymin=row / len(lanes) + 0.1,
                ymax=(row + 1) / len(lanes) - 0.1,
                color=colour,
                lw=0,
            )
    ax.set_yticks([(row + 0.5) / len(lanes) for row in range(len(lanes))], [lane[0] for lane in lanes], fontsize=8)
    ax.set_ylim(0, 1)


def _zooms(scores: np.ndarray, flagged: np.ndarray, labels) -> list[tuple[int, int]]:
    """Up to ``N_ZOOMS`` windows, each a stretch and as much again on both sides (at least 50 points): the flagged
    stretches with the highest peak scores, and with labels the labelled stretch the model scored lowest (the
    worst miss, or the weakest hit)."""
    peak = {run: np.nanmax(scores[run[0] : run[1]]) for run in _runs(flagged)}
    chosen = sorted(peak, key=lambda r: -peak[r])
    if labels is not None:
        labelled = _runs(np.asarray(labels) > 0)
        if labelled:
            chosen = chosen[: N_ZOOMS - 1] + [min(labelled, key=lambda r: np.nanmax(scores[r[0] : r[1]]))]
    windows: list = []
    for start, stop in sorted(chosen[:N_ZOOMS]):
        pad = max(50, stop - start)
        window = (max(0, start - pad), min(len(scores), stop + pad))
        if windows and window[0] <= windows[-1][1]:  # overlapping windows become one
            previous = windows.pop()
            window = (previous[0], max(previous[1], window[1]))
        windows.append(window)
    return windows


def series_scores(
    values: np.ndarray,
    columns,
    scores: np.ndarray,
    threshold: float,
    times=None,
    labels=None,
    title: str = "Series and anomaly score",
):
    """Overview: each value column, the score with the threshold, and lanes of the flagged (score above the
    threshold) and the labelled stretches; below it, zoomed panels around the highest-scoring stretches."""
    scores = np.asarray(scores, dtype=float)
    x = np.arange(len(scores)) if times is None else np.asarray(times)
    flagged = scores > threshold
    windows = _zooms(scores, flagged, labels)
    fig = plt.figure(figsize=(12, 7.5 if windows else 5.5))
    grid = fig.add_gridspec(
        4 if windows else 3, max(len(windows), 1), height_ratios=[3, 2, 0.6, 2.6][: 4 if windows else 3], hspace=0.5
    )
    top = fig.add_subplot(grid[0, :])
    bottom = fig.add_subplot(grid[1, :], sharex=top)
    lanes = fig.add_subplot(grid[2, :], sharex=top)
    for j, name in enumerate(columns[:6]):  # more channels than six would hide each other
        _draw(top, x, values[:, j], label=str(name))
    _draw(bottom, x, scores, color="black", label="anomaly score")
    low, high = _score_limits(scores, threshold)
    bottom.set_ylim(low, high)
    clipped = int(np.sum(scores > high))
    if np.isfinite(threshold):
        bottom.axhline(threshold, color="red", ls="--", lw=1, label=f"threshold {threshold:.3g}")
    if clipped:
        bottom.text(0.01, 0.95, f"{clipped} points above the axis", transform=bottom.transAxes, va="top", fontsize=8)
    _lanes(lanes, x, flagged, labels)
    top.set_title(title + (f" ({len(x):,} points; min-max band per bin)" if len(x) > MAX_DRAWN_POINTS else ""))
    top.set_ylabel("value")
    bottom.set_ylabel("score")
    top.legend(loc="upper right", fontsize=8, ncol=6)
    bottom.legend(loc="upper right", fontsize=8)
    lanes.set_xlabel("time" if times is not None else "point")
    for ax in (top, bottom):
        ax.tick_params(labelbottom=False)
    for k, (start, stop) in enumerate(windows):
        ax = fig.add_subplot(grid[3, k])
        part = slice(start, stop)
        for j in range(min(len(columns), 6)):
            ax.plot(x[part], values[part, j], lw=0.8)
        twin = ax.twinx()
        twin.plot(x[part], scores[part], color="black", lw=0.8)
        if np.isfinite(threshold):
            twin.axhline(threshold, color="red", ls="--", lw=1)
        for run_start, run_stop in _runs(flagged[part]):
            ax.axvspan(x[start + run_start], x[start + run_stop - 1], color="red", alpha=0.2, lw=0)
        if labels is not None:
            for run_start, run_stop in _runs(np.asarray(labels)[part] > 0):
                ax.axvspan(x[start + run_start], x[start + run_stop - 1], ymin=0, ymax=0.06, color="0.35", lw=0)
        ax.set_title(f"zoom {k + 1}: points {start:,}-{stop - 1:,}", fontsize=8)
        ax.tick_params(labelsize=7)
        twin.tick_params(labelsize=7)
    return fig
