"""The score columns every model writes, whatever its modality: ``anomaly_score``, ``p_value``, ``is_anomaly``."""

from __future__ import annotations

import numpy as np


def score_columns(detector, scores: np.ndarray, p_cutoff: float | None = None) -> dict[str, np.ndarray]:
    """The score columns every model writes: ``anomaly_score``, its conformal ``p_value`` against the
    detector's calibration scores, and ``is_anomaly`` (by the threshold, or ``p_value <= p_cutoff``)."""
    from anomaly_vae.decisions.p_values import conformal_p_values

    p_values = conformal_p_values(detector.calibration_scores_, scores)
    flagged = scores > detector.threshold_ if p_cutoff is None else p_values <= p_cutoff
    return {"anomaly_score": scores, "p_value": p_values, "is_anomaly": flagged}
