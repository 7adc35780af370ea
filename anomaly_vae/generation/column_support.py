"""Where each generated column's values may lie: the training values' decimals and range.

A decoder's draws are continuous, so a column of counts or a score on a 1-10 scale comes back as 3.27 or 11.4,
which no training row holds and which gives the samples away at once (a classifier told such samples from real
rows with ROC-AUC 1.0 on five ADBench sets). As SDV's ``enforce_rounding`` and ``enforce_min_max_values`` do,
each column of a sample is rounded to the fewest decimals that reproduce every training value (up to float32
precision: the data often arrive as float32) and clipped to the training values' range. A column whose values need
more than ``MAX_DECIMALS`` decimals is continuous and is only clipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_DECIMALS = 6
"""Columns whose training values need more decimals than this are treated as continuous (not rounded)."""

RELATIVE_TOLERANCE = 1e-6
"""A value "has" ``d`` decimals when rounding it to ``d`` moves it by at most this share of it (float32 data)."""


def column_decimals(values: np.ndarray) -> int | None:
    """The fewest decimals (0 to ``MAX_DECIMALS``) that reproduce every finite value, or None (continuous, or no
    value at all)."""
    values = values[np.isfinite(values)]
    if not len(values):
        return None
    for d in range(MAX_DECIMALS + 1):
        if np.allclose(np.round(values, d), values, rtol=RELATIVE_TOLERANCE, atol=1e-12):
            return d
    return None


@dataclass(frozen=True)
class ColumnSupport:
    """Per column: ``decimals`` (None: continuous), and the training range ``low`` to ``high``."""

    decimals: tuple
    low: np.ndarray
    high: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray) -> ColumnSupport:
        """The support of each column of ``X`` ``(n, d)``; NaN (a missing value) is ignored."""
        X = np.asarray(X, dtype=np.float64)
        seen = np.isfinite(X).any(axis=0)  # a column with no value at all is left unbounded
        low = np.where(seen, np.min(np.where(np.isfinite(X), X, np.inf), axis=0, initial=np.inf), -np.inf)
        high = np.where(seen, np.max(np.where(np.isfinite(X), X, -np.inf), axis=0, initial=-np.inf), np.inf)
        return cls(tuple(column_decimals(X[:, j]) for j in range(X.shape[1])), low, high)

    def apply(self, X: np.ndarray) -> np.ndarray:
        """``X`` with each column rounded to its decimals and clipped to its range (a copy)."""
        out = np.array(X, dtype=np.float64)
        for j, d in enumerate(self.decimals):
            if d is not None:
                out[:, j] = np.round(out[:, j], d)
        return np.clip(out, self.low, self.high)  # the ends are on the grid, so clipping keeps the rounding

    def to_dict(self) -> dict:
        """Plain JSON: an unbounded end (a column with no value in training) is written as null."""

        def ends(a):
            return [float(v) if np.isfinite(v) else None for v in a]

        return {"decimals": list(self.decimals), "low": ends(self.low), "high": ends(self.high)}

    @classmethod
    def from_dict(cls, data: dict, n_columns: int, where: str) -> ColumnSupport:
        """The support saved by :meth:`to_dict`, checked against ``n_columns``; ``where`` names the file and field
        in errors."""
        decimals = data["decimals"]
        low = np.array([-np.inf if v is None else v for v in data["low"]], dtype=np.float64)
        high = np.array([np.inf if v is None else v for v in data["high"]], dtype=np.float64)
        if not len(decimals) == len(low) == len(high) == n_columns:
            raise ValueError(
                f"{where} describes {len(decimals)}, {len(low)} and {len(high)} columns; the model has {n_columns}."
            )
        if np.isnan(low).any() or np.isnan(high).any() or not (low <= high).all():
            raise ValueError(f"{where}: each column's low and high must be numbers (or null: unbounded), low <= high.")
        if not all(d is None or (isinstance(d, int) and 0 <= d <= MAX_DECIMALS) for d in decimals):
            raise ValueError(f"{where}: decimals must be null or whole numbers 0 to {MAX_DECIMALS}.")
        return cls(tuple(decimals), low, high)
