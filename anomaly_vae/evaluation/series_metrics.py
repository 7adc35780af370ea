"""Evaluation measures for per-point anomaly scores on a labelled time series, the honest ones first.

- :func:`vus_pr`: the volume under the range-based precision-recall surface (Paparrizos et al., "Volume Under the
  Surface", PVLDB 15(11), 2022): the mean of :func:`range_pr_auc` over every buffer length from 0 to
  ``max_buffer``. A label is widened by a buffer of ``buffer // 2`` points on each side of each anomalous range,
  with soft labels ``sqrt(1 - distance / buffer)``, so a detection just before or after a labelled range earns part of
  the credit; averaging over the buffer lengths removes the one free parameter of the range-based curve.
- :func:`range_pr_auc`: the area under the range-based PR curve for one buffer: over 250 thresholds sampled
  uniformly from the sorted scores, precision is the soft true positives over the flagged points, recall the soft
  true positives over the mean of the hard and soft label masses (at most 1), times the share of anomalous ranges
  that hold at least one flagged point (the existence reward). The curve is integrated by the trapezoid rule
  from recall 0 (precision 1) to recall 1.
- :func:`point_adjusted_f1`: the best F1 over the same thresholds after point adjustment (a range counts as found
  entirely if any of its points is flagged). Shown beside the others only: with point adjustment even random scores
  look strong (Kim et al., AAAI 2022).

The range-based measures follow the published definition as implemented in the authors' code and in aeon 1.x
(``range_pr_vus_score``); this module recomputes it with array operations, every threshold at once.
"""

from __future__ import annotations

import numpy as np

N_THRESHOLDS = 250
"""Thresholds sampled from the sorted scores, as in the published implementation."""


def anomaly_ranges(labels) -> np.ndarray:
    """``(n_ranges, 2)`` start and end (inclusive) of each run of positive labels."""
    positive = np.asarray(labels) > 0
    edges = np.diff(np.concatenate([[0], positive.astype(np.int8), [0]]))
    return np.stack([np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1], axis=1)


def soft_labels(labels, buffer: int) -> np.ndarray:
    """The labels widened by ``buffer // 2`` points each side of every range, ``sqrt(1 - distance / buffer)``."""
    y = np.asarray(labels, dtype=np.float64).copy()
    if buffer <= 1:
        return y
    n, half = len(y), buffer // 2
    for start, end in anomaly_ranges(labels):
        after = np.arange(end, min(end + half, n))
        y[after] += np.sqrt(1 - (after - end) / buffer)
        before = np.arange(max(start - half, 0), start)
        y[before] += np.sqrt(1 - (start - before) / buffer)
    return np.clip(y, 0.0, 1.0)


def _thresholds(scores: np.ndarray) -> np.ndarray:
    ordered = np.sort(scores)[::-1]
    return ordered[np.linspace(0, len(ordered) - 1, N_THRESHOLDS).astype(int)]


def _flags(labels, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    if labels.shape != scores.shape or labels.ndim != 1:
        raise ValueError(f"labels {labels.shape} and scores {scores.shape} must be one value per point, alike.")
    if not np.isfinite(scores).all():
        raise ValueError("scores hold NaN or inf.")
    if not (labels > 0).any() or (labels > 0).all():
        raise ValueError("The labels must hold both normal and anomalous points.")
    flagged = scores[None, :] >= _thresholds(scores)[:, None]  # (thresholds, points)
    cumulative = np.concatenate([np.zeros((len(flagged), 1), dtype=np.int64), np.cumsum(flagged, axis=1)], axis=1)
    return labels, flagged, cumulative


def _range_pr_auc(labels, flagged, cumulative, buffer: int) -> float:
    soft = soft_labels(labels, buffer)
    ranges = anomaly_ranges(soft)
    true_positives = flagged @ soft
    n_flagged = flagged.sum(axis=1)
    positives = (np.sum(labels > 0) + soft.sum()) / 2
    found = (cumulative[:, ranges[:, 1] + 1] - cumulative[:, ranges[:, 0]]) > 0
    recall = np.minimum(true_positives / positives, 1.0) * found.mean(axis=1)
    precision = true_positives / n_flagged
    recall = np.concatenate([[0.0], recall, [1.0]])
    precision = np.concatenate([[1.0], precision])
    return float(np.sum((recall[1:-1] - recall[:-2]) * (precision[1:] + precision[:-1]) / 2))


def range_pr_auc(labels, scores, buffer: int) -> float:
    """Area under the range-based PR curve with a buffer of ``buffer`` points (module docstring)."""
    return _range_pr_auc(*_flags(labels, scores), buffer)


def vus_pr(labels, scores, max_buffer: int) -> float:
    """Volume under the range-based PR surface: :func:`range_pr_auc` averaged over buffers 0 to ``max_buffer``."""
    flags = _flags(labels, scores)
    return float(np.mean([_range_pr_auc(*flags, buffer) for buffer in range(max_buffer + 1)]))


def point_adjusted_f1(labels, scores) -> float:
    """Best F1 over the thresholds after point adjustment (module docstring: never report it alone)."""
    labels, flagged, cumulative = _flags(labels, scores)
    adjusted = flagged.copy()
    for start, end in anomaly_ranges(labels):
        hit = cumulative[:, end + 1] - cumulative[:, start] > 0
        adjusted[hit, start : end + 1] = True
    positive = (labels > 0).astype(np.float64)
    true_positives = adjusted @ positive  # float: a boolean product would be a logical "or"
    precision = true_positives / adjusted.sum(axis=1)
    recall = true_positives / positive.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(true_positives > 0, 2 * precision * recall / (precision + recall), 0.0)
    return float(f1.max())
