"""Conformal p-values of anomaly scores and the Benjamini-Hochberg selection on them.

A row's conformal p-value is ``(1 + #{calibration scores >= s}) / (n_cal + 1)`` (Bates et al., "Testing for
outliers with conformal p-values", Annals of Statistics 2023). The calibration scores come from held-out normal
rows that neither trained the network nor chose its early-stopping epoch. If a new normal row and the
calibration rows are exchangeable (drawn the same way from the same distribution), its p-value is valid:
``P(p <= a) <= a`` for every level ``a``. Scores of one row do not depend on the other rows in its batch, so a
row's p-value is the same however the rows are batched.
"""

from __future__ import annotations

import math
import warnings

import numpy as np


class CalibrationWarning(UserWarning):
    """A threshold could not be set as asked (too few calibration scores); the message says what was done."""


def check_scores(scores, what: str = "calibration scores") -> np.ndarray:
    """``scores`` as a 1-D float64 array; refuses an empty set and NaN or inf."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if scores.size == 0:
        raise ValueError(f"Cannot calibrate on an empty set of {what}.")
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"Cannot calibrate on {what} that contain NaN or inf.")
    return scores


def conformal_p_values(calibration_scores, scores) -> np.ndarray:
    """Conformal p-value of each of ``scores`` against ``calibration_scores`` (ties count as at least as extreme)."""
    cal = np.sort(check_scores(calibration_scores))
    scores = np.asarray(scores, dtype=np.float64).ravel()
    at_least = len(cal) - np.searchsorted(cal, scores, side="left")
    return (1.0 + at_least) / (len(cal) + 1.0)


def conformal_threshold(calibration_scores, level: float) -> float:
    """The score threshold equivalent to "p-value <= ``level``": a row scoring strictly above it has a p-value
    at most ``level``, any other row a larger one. Infinite, with a :class:`CalibrationWarning`, when no p-value
    can be that small: the smallest is ``1 / (n_cal + 1)``."""
    cal = np.sort(check_scores(calibration_scores))
    n = len(cal)
    # p <= level  <=>  #{cal >= s} <= m  with  m = floor(level (n + 1)) - 1  <=>  s > cal[n - m - 1]
    m = math.floor(level * (n + 1) + 1e-9) - 1
    if m < 0:
        warnings.warn(
            f"{n} calibration scores are too few for a conformal threshold at {level:g}: the smallest "
            f"p-value is 1/{n + 1} = {1 / (n + 1):.3g}, so no row can be flagged. Hold out at least "
            f"{math.ceil(1 / level) - 1} normal rows for calibration.",
            CalibrationWarning,
            stacklevel=3,
        )
        return math.inf
    return float(cal[n - m - 1])


def bh_select(p_values, level: float) -> np.ndarray:
    """Benjamini-Hochberg at false-discovery rate ``level``: True for the rows it flags (scipy's
    ``false_discovery_control``). With conformal p-values the expected share of normal rows among those flagged
    is at most ``level`` (Bates et al. 2023, under exchangeability)."""
    from scipy.stats import false_discovery_control

    if not 0.0 < level < 1.0:
        raise ValueError(f"The false-discovery rate must be between 0 and 1 (exclusive); got {level!r}.")
    p = np.asarray(p_values, dtype=np.float64).ravel()
    if p.size == 0:
        return np.zeros(0, dtype=bool)
    return false_discovery_control(p, method="bh") <= level


def bh_cutoff(p_values, level: float) -> float:
    """The p-value cutoff of :func:`bh_select`: a row is flagged exactly when its p-value is at most this
    (0.0 when nothing is flagged). Lets a file scored in chunks be flagged chunk by chunk after one pass."""
    p = np.asarray(p_values, dtype=np.float64).ravel()
    flagged = bh_select(p, level)
    return float(p[flagged].max()) if flagged.any() else 0.0
