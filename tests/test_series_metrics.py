"""The time-series measures against a plain, one-threshold-at-a-time reading of their published definition."""

import numpy as np
import pytest

from anomaly_vae.evaluation.series_metrics import (
    N_THRESHOLDS,
    anomaly_ranges,
    point_adjusted_f1,
    range_pr_auc,
    soft_labels,
    vus_pr,
)


def _labels(n=400):
    y = np.zeros(n, dtype=int)
    y[50:60] = 1
    y[200:203] = 1
    y[390:] = 1  # a range running to the end
    return y


def _reference_range_pr_auc(y, scores, buffer):
    """Paparrizos et al. (2022), threshold by threshold, as the authors' code computes it."""
    soft = soft_labels(y, buffer)
    ranges = anomaly_ranges(soft)
    thresholds = np.sort(scores)[::-1][np.linspace(0, len(scores) - 1, N_THRESHOLDS).astype(int)]
    positives = (y.sum() + soft.sum()) / 2
    recalls, precisions = [0.0], [1.0]
    for t in thresholds:
        flagged = scores >= t
        tp = float(np.sum(soft * flagged))
        found = np.mean([flagged[s : e + 1].any() for s, e in ranges])
        recalls.append(min(tp / positives, 1.0) * found)
        precisions.append(tp / flagged.sum())
    recalls.append(1.0)
    return sum(
        (recalls[i + 1] - recalls[i]) * (precisions[i + 1] + precisions[i]) / 2 for i in range(len(precisions) - 1)
    )


@pytest.mark.parametrize("buffer", [0, 1, 7, 30])
def test_range_pr_auc_matches_the_definition(buffer):
    y = _labels()
    scores = np.random.default_rng(buffer).normal(size=len(y)) + 2.0 * soft_labels(y, 20)
    assert range_pr_auc(y, scores, buffer) == pytest.approx(_reference_range_pr_auc(y, scores, buffer), rel=1e-12)


def test_soft_labels_and_ranges():
    y = _labels()
    soft = soft_labels(y, 10)
    assert anomaly_ranges(y).tolist() == [[50, 59], [200, 202], [390, 399]]
    assert soft[50:60].min() == 1.0 and 0 < soft[45] < soft[49] < 1.0 and soft[44] == 0.0
    assert soft[60] == pytest.approx(np.sqrt(1 - 1 / 10)) and soft[65] == 0.0


def test_better_scores_rank_higher_and_point_adjustment_flatters_random_scores():
    y = _labels()
    rng = np.random.default_rng(0)
    perfect, noisy, random = y + 0.0, y + rng.normal(0, 0.7, len(y)), rng.normal(size=len(y))
    assert range_pr_auc(y, perfect + 1e-9 * rng.normal(size=len(y)), 0) == pytest.approx(1.0, abs=0.02)
    assert vus_pr(y, perfect, 20) > vus_pr(y, noisy, 20) > vus_pr(y, random, 20)
    assert vus_pr(y, random, 20) < 0.2
    assert point_adjusted_f1(y, random) > 2 * vus_pr(y, random, 20)  # why PA-F1 is never shown alone
    assert vus_pr(y, 3 * noisy + 5, 20) == pytest.approx(vus_pr(y, noisy, 20))  # only the order of scores counts


def test_bad_inputs_get_clear_errors():
    with pytest.raises(ValueError, match="both normal and anomalous"):
        vus_pr(np.zeros(50), np.arange(50.0), 5)
    with pytest.raises(ValueError, match="one value per point"):
        vus_pr(_labels(), np.zeros(10), 5)
    with pytest.raises(ValueError, match="NaN or inf"):
        point_adjusted_f1(_labels(), np.full(400, np.nan))
