"""Sliding windows over a series and window scores mapped back to its points (the time-series groundwork)."""

import numpy as np
import pytest

from anomaly_vae.detectors.windows import (
    AUTO_WINDOW_FALLBACK,
    AUTO_WINDOW_FLOOR,
    auto_window,
    dominant_period,
    point_scores,
    sliding_windows,
    window_starts,
)


def test_windows_cover_every_point_and_hold_the_series():
    series = np.arange(23.0)[:, None] * [1.0, -1.0]
    windows, starts = sliding_windows(series, window=5, stride=4)
    assert windows.shape == (len(starts), 5, 2)
    assert list(starts) == [0, 4, 8, 12, 16, 18]  # the last one flush with the end
    for w, s in zip(windows, starts):
        np.testing.assert_array_equal(w, series[s : s + 5])
    covered = np.zeros(23, bool)
    for s in starts:
        covered[s : s + 5] = True
    assert covered.all()
    assert list(window_starts(10, 10)) == [0] and list(window_starts(12, 3, 3)) == [0, 3, 6, 9]
    assert sliding_windows(np.arange(8.0), 3)[0].shape == (6, 3, 1)


def test_window_edge_cases_get_clear_errors():
    with pytest.raises(ValueError, match="fewer than one window of 10"):
        window_starts(9, 10)
    with pytest.raises(ValueError, match=r"stride \(6\) must not exceed window \(5\)"):
        window_starts(100, 5, 6)
    with pytest.raises(ValueError, match="window must be a positive integer"):
        window_starts(100, 0)
    with pytest.raises(ValueError, match="points,\\) or \\(points, channels\\)"):
        sliding_windows(np.zeros((4, 4, 4)), 2)


def test_point_scores_put_a_windows_score_on_its_points():
    series = np.zeros(50)
    series[31] = 1.0
    windows, starts = sliding_windows(series, window=8, stride=2)
    per_position = windows[:, :, 0]  # say each point's reconstruction error in each window: 1 at the spike
    for rule in ("mean", "max"):
        scores = point_scores(per_position, starts, 8, 50, rule)
        assert (
            scores.shape == (50,) and scores.argmax() == 31 and scores[31] == 1.0 and (np.delete(scores, 31) == 0).all()
        )
    per_window = per_position.max(axis=1)  # one score per window: its points share it
    mean, top = point_scores(per_window, starts, 8, 50, "mean"), point_scores(per_window, starts, 8, 50, "max")
    assert mean[31] == top[31] == 1.0 and mean[0] == top[0] == 0.0
    assert 0 < mean[24] < 1 and top[24] == 1.0  # covered by some windows that hold the spike and some that do not
    with pytest.raises(ValueError, match="rule must be one of"):
        point_scores(per_window, starts, 8, 50, "median")
    with pytest.raises(ValueError, match="window scores of shape"):
        point_scores(per_window[:-1], starts, 8, 50)


@pytest.mark.parametrize("period", [12, 37, 50, 120])
def test_dominant_period_finds_the_period_not_a_multiple(period):
    rng = np.random.default_rng(period)
    t = np.arange(4000)
    series = np.sin(2 * np.pi * t / period) + 0.4 * np.sin(4 * np.pi * t / period) + 0.2 * rng.normal(size=t.size)
    assert abs(dominant_period(series) - period) <= 1


def test_dominant_period_of_several_channels_and_of_none():
    rng = np.random.default_rng(0)
    t = np.arange(3000)
    both = np.column_stack([np.sin(2 * np.pi * t / 30), np.cos(2 * np.pi * t / 30)]) + 0.1 * rng.normal(size=(3000, 2))
    assert abs(dominant_period(both) - 30) <= 1
    assert dominant_period(rng.normal(size=3000)) is None  # white noise
    walk = np.zeros(3000)
    for i in range(1, 3000):  # mean-reverting random walk: correlated, but with no period
        walk[i] = 0.95 * walk[i - 1] + rng.normal()
    assert dominant_period(walk) is None
    assert dominant_period(np.ones(500)) is None  # constant
    assert dominant_period(np.arange(4.0)) is None  # too short to hold a period


def test_auto_window_is_one_period_within_its_bounds():
    t = np.arange(3000)
    assert auto_window(np.sin(2 * np.pi * t / 45)) == 45
    assert auto_window(np.sin(2 * np.pi * t / 6)) == AUTO_WINDOW_FLOOR  # a short period: the floor
    assert auto_window(np.random.default_rng(0).normal(size=3000)) == AUTO_WINDOW_FALLBACK
