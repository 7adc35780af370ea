"""Input checks that name the offending row and column."""

from __future__ import annotations

import numpy as np


def check_finite(X: np.ndarray, feature_names=None, what: str = "X") -> None:
    """Raise ``ValueError`` naming the first NaN/inf cell of a 2-D float array."""
    finite = np.isfinite(X)
    if finite.all():
        return
    bad = ~finite
    row, col = np.argwhere(bad)[0]
    name = feature_names[col] if feature_names is not None else f"x{col}"
    kind = "NaN" if np.isnan(X[row, col]) else "inf"
    raise ValueError(
        f"Input {what} contains {kind} at row {row}, column {name!r} "
        f"({int(bad.sum())} NaN or inf values in all). The VAE cannot score missing or infinite "
        "values: impute them first (the anomaly-vae pipelines do this for you)."
    )
