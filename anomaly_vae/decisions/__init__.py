"""Decisions on scores: where a score becomes a flag, and how sure it is.

- ``threshold``: the threshold rules (quantile, conformal, POT) fitted on calibration scores.
- ``p_values``: conformal p-values and Benjamini-Hochberg false-discovery control.
- ``tail``: the generalised Pareto tail behind the POT rule.
- ``drift``: new scores checked against the calibration scores.
"""
