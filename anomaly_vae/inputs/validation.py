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


def check_missing(X: np.ndarray, feature_names=None, what: str = "X", columns: bool = True) -> None:
    """For data whose NaN entries are missing: raise ``ValueError`` naming the first inf cell, the first row with
    no observed entry, and (with ``columns``, when fitting) the first column with none: nothing can be learnt
    about a column never seen, and a row with nothing observed has nothing to score or condition on."""

    def name(col):
        return feature_names[col] if feature_names is not None else f"x{col}"

    inf = np.isinf(X)
    if inf.any():
        row, col = np.argwhere(inf)[0]
        raise ValueError(
            f"Input {what} contains inf at row {row}, column {name(col)!r} ({int(inf.sum())} in all): "
            "missing entries are NaN; an infinite value is neither observed nor missing."
        )
    missing = np.isnan(X)
    if columns and len(X):
        empty = np.flatnonzero(missing.all(axis=0))
        if len(empty):
            raise ValueError(
                f"Input {what} column {name(empty[0])!r} has no observed value ({len(empty)} such column(s)): drop it."
            )
    empty = np.flatnonzero(missing.all(axis=1)) if X.shape[1] else np.zeros(0, dtype=int)
    if len(empty):
        raise ValueError(
            f"Input {what} row {empty[0]} has every entry missing ({len(empty)} such row(s)): "
            "there is nothing observed to condition on."
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
