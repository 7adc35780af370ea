"""Decision thresholds on anomaly scores, set from held-out normal data."""

from __future__ import annotations

import numpy as np

AUTO_QUANTILE = 0.99
"""Quantile of the held-out normal scores used by ``contamination='auto'`` (1% false-positive rate)."""


def quantile_threshold(normal_scores, quantile: float = AUTO_QUANTILE) -> float:
    """Anomaly-score threshold at ``quantile`` of scores from normal rows.

    Rows scoring strictly above it are flagged, so about ``1 - quantile`` of
    normal rows are false positives.
    """
    scores = _check_scores(normal_scores)
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile must be in (0, 1), got {quantile!r}.")
    return float(np.quantile(scores, quantile))


def fpr_threshold(normal_scores, target_fpr: float) -> float:
    """Anomaly-score threshold that flags about ``target_fpr`` of normal rows."""
    if not 0.0 < target_fpr < 1.0:
        raise ValueError(f"target_fpr must be in (0, 1), got {target_fpr!r}.")
    return quantile_threshold(normal_scores, 1.0 - target_fpr)


def _check_scores(scores) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if scores.size == 0:
        raise ValueError("Cannot set a threshold from an empty set of scores.")
    if not np.all(np.isfinite(scores)):
        raise ValueError("Cannot set a threshold from scores that contain NaN or inf.")
    return scores
