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


def check_finite_scores(scores: np.ndarray) -> None:
    """Raise ``ValueError`` when a model scores any row NaN or inf: never let garbage pass as a score.

    Inputs are checked and clipped before scoring, so this means damaged weights or an overflow
    in the network; the message names the first row.
    """
    bad = ~np.isfinite(scores)
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(
            f"The model produced a non-finite anomaly score ({scores[row]}) at row {row} "
            f"({int(bad.sum())} of {len(scores)} rows): its weights are damaged or the network overflowed."
        )


def check_positive_int(name: str, value) -> int:
    """``value`` as an int, or ``ValueError`` naming the argument when it is not a positive integer."""
    try:
        ok = not isinstance(value, bool) and int(value) == value and value >= 1
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)
