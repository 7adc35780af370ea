"""Decision thresholds on anomaly scores, set from held-out normal ("calibration") scores by one of three rules.

- ``"quantile"``: the ``1 - target_fpr`` quantile of the calibration scores (linear interpolation), the rule
  the detectors always had.
- ``"conformal"``: flags exactly the rows whose conformal p-value is at most ``target_fpr``
  (:mod:`anomaly_vae.decisions.p_values`); the false-positive rate on exchangeable normal rows is then at most
  ``target_fpr``, and infinite when fewer than ``1 / target_fpr - 1`` calibration scores make that impossible.
- ``"pot"``: peaks over threshold (:mod:`anomaly_vae.decisions.tail`), for rates far below ``1 / n_calibration``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from anomaly_vae.decisions.p_values import CalibrationWarning, check_scores, conformal_threshold
from anomaly_vae.decisions.tail import TailFit, fit_tail


@dataclass(frozen=True)
class Threshold:
    """A fitted threshold: its value (rows scoring strictly above it are flagged), how it was set, and the
    extreme-value tail behind it (``"pot"`` only, None when that fit fell back to the quantile)."""

    value: float
    rule: str
    target_fpr: float
    tail: TailFit | None = None


def fit_threshold(calibration_scores, rule: str, target_fpr: float) -> Threshold:
    """The threshold of ``rule`` for ``target_fpr`` on ``calibration_scores`` (see the module docstring)."""
    from anomaly_vae.choices import THRESHOLD_RULES

    if rule not in THRESHOLD_RULES:
        raise ValueError(f"Unknown threshold rule {rule!r}; choose one of {', '.join(THRESHOLD_RULES)}.")
    if not 0.0 < target_fpr < 1.0:
        raise ValueError(f"target_fpr must be in (0, 1), got {target_fpr!r}.")
    scores = check_scores(calibration_scores)
    if rule == "conformal":
        return Threshold(conformal_threshold(scores, target_fpr), rule, target_fpr)
    tail = fit_tail(scores) if rule == "pot" else None
    if tail is not None and target_fpr < tail.n_excesses / tail.n_calibration:
        return Threshold(tail.quantile(target_fpr), rule, target_fpr, tail)
    if len(scores) * target_fpr < 1:
        warnings.warn(
            f"The threshold for target false-positive rate {target_fpr:g} is set on {len(scores)} calibration "
            f"score(s), too few to resolve that rate (at least {math.ceil(1 / target_fpr)} are needed): it "
            "lies among the highest calibration scores, and the rate on new normal rows may be far from "
            "the target. Calibrate on more normal rows, or choose a larger target.",
            CalibrationWarning,
            stacklevel=3,
        )
    return Threshold(float(np.quantile(scores, 1.0 - target_fpr)), rule, target_fpr, tail)


def rule_used(rule: str, target_fpr: float, tail: TailFit | None) -> str:
    """The rule that actually set a threshold: ``"pot"`` falls back to the empirical quantile when it has no tail
    fit, or when the target is not beyond the tail's exceedance rate."""
    if rule == "pot" and (tail is None or target_fpr >= tail.n_excesses / tail.n_calibration):
        return "quantile"
    return rule
