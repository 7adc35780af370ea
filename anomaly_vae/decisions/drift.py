"""Drift of new scores away from the calibration scores: is what the model now sees still like what it was
calibrated on?

Two checks, both two-sided tests against chance: the two-sample Kolmogorov-Smirnov test of the new scores
against the calibration scores (any change of the score distribution), and a test of the number of rows flagged
against what the threshold was set for (a change where it matters for the decisions). The flagged count of ``m``
exchangeable normal rows is not binomial: the threshold itself was estimated from ``n`` calibration scores, so
the rate it flags is random too. For a threshold at the ``k``-th largest of ``n`` calibration scores that rate
is Beta(``k``, ``n + 1 - k``) and the count beta-binomial, exact for the conformal rule and close for the
others (``k = target (n + 1)``). Either check also fires when the new rows hold many true anomalies; the report
cannot tell the two apart, a person can.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DRIFT_ALPHA = 0.01
"""A drift warning is printed when either test's p-value is below this."""


@dataclass(frozen=True)
class DriftReport:
    n_rows: int
    ks_statistic: float
    ks_p_value: float
    flagged_share: float
    expected_share: float | None  # None when the flags do not come from the threshold (Benjamini-Hochberg)
    flagged_p_value: float | None

    @property
    def drifted(self) -> bool:
        return self.ks_p_value < DRIFT_ALPHA or (
            self.flagged_p_value is not None and self.flagged_p_value < DRIFT_ALPHA
        )

    def metrics(self) -> dict[str, float]:
        out = {
            "drift_ks_statistic": self.ks_statistic,
            "drift_ks_p_value": self.ks_p_value,
            "flagged_share": self.flagged_share,
        }
        if self.expected_share is not None:
            out["expected_flagged_share"] = self.expected_share
        if self.flagged_p_value is not None:
            out["drift_flagged_p_value"] = self.flagged_p_value
        return out

    def message(self) -> str:
        """One line saying whether the scores differ from the calibration scores beyond chance."""
        parts = [f"KS {self.ks_statistic:.3f} (p = {self.ks_p_value:.2g})"]
        if self.expected_share is not None:
            parts.append(
                f"{self.flagged_share:.2%} flagged against {self.expected_share:.2%} expected "
                f"(p = {self.flagged_p_value:.2g})"
            )
        verdict = (
            "differ from the calibration scores beyond chance: the data drifted or hold many anomalies; "
            "re-fit the threshold on fresh normal rows with --recalibrate NORMAL"
            if self.drifted
            else "are consistent with the calibration scores"
        )
        return f"{self.n_rows} scores {verdict} ({'; '.join(parts)})."


def drift_report(scores, calibration_scores, n_flagged: int, rule: str | None, target_fpr: float | None) -> DriftReport:
    """Compare ``scores``, ``n_flagged`` of them flagged by a threshold of ``rule`` at ``target_fpr``, with the
    ``calibration_scores`` the threshold was set on. ``rule=None``: the flags did not come from the threshold
    (Benjamini-Hochberg), so only the distributions are compared."""
    from scipy.stats import betabinom

    scores = np.asarray(scores, dtype=np.float64).ravel()
    calibration_scores = np.asarray(calibration_scores, dtype=np.float64).ravel()
    ks_statistic, ks_p_value = ks_two_sample(scores, calibration_scores)
    m, n = len(scores), len(calibration_scores)
    expected = p_flagged = None
    if rule is not None and target_fpr is not None:
        k = np.floor(target_fpr * (n + 1) + 1e-9) if rule == "conformal" else target_fpr * (n + 1)
        if k > 0:  # k = 0: a conformal threshold too high to flag anything, nothing to test
            law = betabinom(m, k, n + 1 - k)
            expected = float(k / (n + 1))
            p_flagged = float(min(1.0, 2 * min(law.cdf(n_flagged), law.sf(n_flagged - 1))))
    return DriftReport(m, ks_statistic, ks_p_value, n_flagged / m, expected, p_flagged)


KS_EXACT_MAX_N = 10_000
"""Up to this many values in the larger sample, :func:`ks_two_sample` is SciPy's ``ks_2samp`` itself (SciPy's
own limit for its exact p-value)."""


def ks_two_sample(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """The two-sided two-sample Kolmogorov-Smirnov statistic and p-value of ``scipy.stats.ks_2samp``, in the
    memory of one sorted copy of each sample.

    ``ks_2samp`` evaluates both empirical CDFs at every pooled value, about five arrays the size of both samples
    together (300 MB more at the peak of scoring 10 M rows). The supremum of ``|F_a - F_b|`` is reached at a value
    of ``b``, or at the first or last value of ``a`` between two consecutive values of ``b`` (where ``F_b`` is
    constant and ``F_a`` monotone), so ``3 len(b) + 2`` points give the same statistic. The p-value is then
    SciPy's asymptotic one, the one ``ks_2samp`` itself uses when a sample is larger than ``KS_EXACT_MAX_N``.
    """
    from scipy.stats import ks_2samp, kstwo

    if max(len(a), len(b)) <= KS_EXACT_MAX_N:
        ks = ks_2samp(a, b)
        return float(ks.statistic), float(ks.pvalue)
    a, b = np.sort(a), np.sort(b)
    bounds = np.concatenate([[0], np.searchsorted(a, b, side="left"), [len(a)]])
    starts, stops = bounds[:-1], bounds[1:]
    filled = starts < stops
    points = np.concatenate([b, a[starts[filled]], a[stops[filled] - 1]])
    gaps = np.searchsorted(a, points, side="right") / len(a) - np.searchsorted(b, points, side="right") / len(b)
    statistic = float(np.max(np.abs(gaps)))
    larger, smaller = sorted([float(len(a)), float(len(b))], reverse=True)
    return statistic, float(kstwo.sf(statistic, np.round(larger * smaller / (larger + smaller))))
