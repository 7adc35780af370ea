"""Evaluation measures the detectors do not compute themselves.

- ``series_metrics``: VUS-PR, range-based PR-AUC and point-adjusted F1 for per-point scores.
"""
