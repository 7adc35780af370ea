"""Extreme-value tail of the calibration scores: peaks over threshold (POT) with a generalised Pareto fit.

Siffer et al., "Anomaly Detection in Streams with Extreme Value Theory", KDD 2017: above a high quantile ``u``
the excesses ``s - u`` of the scores are close to a generalised Pareto distribution (shape ``xi``, scale
``sigma``), so the score exceeded with a small probability ``q`` is

    ``z_q = u + sigma / xi * ((q n / N_u) ** -xi - 1)``  (``u - sigma log(q n / N_u)`` when ``xi = 0``),

with ``n`` calibration scores of which ``N_u`` exceed ``u``. This sets a threshold for a false-positive rate far
below ``1 / n``, where the empirical quantile can only return the largest score. The fit is scipy's maximum
likelihood (``scipy.stats.genpareto.fit`` with the location fixed at 0).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np

from anomaly_vae.decisions.p_values import CalibrationWarning, check_scores

TAIL_SHARE = 0.05
"""Share of the calibration scores above the tail's starting point ``u`` (the 95% quantile; the paper used 98%,
which left too few excesses for a stable fit on a few thousand scores: ``benchmarks/HISTORY.md``, "Calibration")."""
MIN_EXCESSES = 50
"""Fewest scores above ``u`` a fit uses: with fewer calibration scores the tail starts lower, down to
``MAX_TAIL_SHARE``."""
MAX_TAIL_SHARE = 0.1
"""The tail never starts below the 90% quantile; below ``MIN_EXCESSES / MAX_TAIL_SHARE`` (500) calibration
scores there is no tail fit and the threshold falls back, with a warning, to the empirical quantile."""


@dataclass(frozen=True)
class TailFit:
    """A generalised Pareto fit to the calibration scores above ``start`` (``u``)."""

    start: float
    shape: float
    scale: float
    n_excesses: int
    n_calibration: int

    def survival(self, x) -> np.ndarray:
        """Fitted ``P(score > x)`` for ``x >= start`` (the tail model; not meant below ``start``)."""
        y = np.maximum(np.asarray(x, dtype=np.float64) - self.start, 0.0)
        share = self.n_excesses / self.n_calibration
        if abs(self.shape) < 1e-12:
            return share * np.exp(-y / self.scale)
        base = np.maximum(1.0 + self.shape * y / self.scale, 0.0)
        with np.errstate(divide="ignore"):
            return share * base ** (-1.0 / self.shape)

    def quantile(self, risk: float) -> float:
        """The score exceeded with probability ``risk`` (at most ``n_excesses / n_calibration``)."""
        ratio = risk * self.n_calibration / self.n_excesses
        if abs(self.shape) < 1e-12:
            return float(self.start - self.scale * math.log(ratio))
        return float(self.start + self.scale / self.shape * (ratio**-self.shape - 1.0))

    def to_dict(self) -> dict:
        return asdict(self)


def fit_tail(calibration_scores) -> TailFit | None:
    """The POT fit of ``calibration_scores``, or None (with a :class:`~anomaly_vae.decisions.p_values.CalibrationWarning`) when they are too few
    or the fit fails."""
    from scipy.stats import genpareto

    scores = np.sort(check_scores(calibration_scores))
    n = len(scores)
    n_tail = max(MIN_EXCESSES, math.ceil(TAIL_SHARE * n))
    if n_tail > MAX_TAIL_SHARE * n:
        warnings.warn(
            f"{n} calibration scores are too few for an extreme-value (POT) tail fit: it needs at least "
            f"{math.ceil(MIN_EXCESSES / MAX_TAIL_SHARE)}. The threshold is the empirical quantile instead.",
            CalibrationWarning,
            stacklevel=3,
        )
        return None
    start = float(scores[n - n_tail - 1])
    excesses = scores[scores > start] - start
    if len(excesses) < MIN_EXCESSES:
        warnings.warn(
            f"Only {len(excesses)} calibration scores lie above the tail's start {start:.6g} (many tie "
            "there); the threshold is the empirical quantile instead.",
            CalibrationWarning,
            stacklevel=3,
        )
        return None
    try:
        shape, _, scale = genpareto.fit(excesses, floc=0.0)
    except (RuntimeError, ValueError, FloatingPointError) as err:
        warnings.warn(
            f"The generalised Pareto fit failed ({err}); the threshold is the empirical quantile instead.",
            CalibrationWarning,
            stacklevel=3,
        )
        return None
    if not (np.isfinite(shape) and np.isfinite(scale) and scale > 0):
        warnings.warn(
            f"The generalised Pareto fit gave shape {shape}, scale {scale}; the threshold is the "
            "empirical quantile instead.",
            CalibrationWarning,
            stacklevel=3,
        )
        return None
    return TailFit(start, float(shape), float(scale), int(len(excesses)), n)
