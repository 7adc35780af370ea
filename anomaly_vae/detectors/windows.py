"""Sliding windows over a time series, and window scores mapped back to time points.

A series ``(T, channels)`` becomes windows ``(n_windows, window, channels)`` starting every ``stride`` points; when
the last regular window stops short of the end, one more window is placed flush with the end, so every point is in
at least one window and none is dropped. A point's score is then the mean (or the max) of the scores of the windows
that cover it (:func:`point_scores`): the mean smooths a spike over the ``window`` points around it; the max keeps
the worst window's score on every point it covers.
"""

from __future__ import annotations

import numpy as np

from anomaly_vae.inputs.validation import check_positive_int

POINT_RULES = ("mean", "max")
"""How a point's score is formed from the scores of the windows covering it."""


def window_starts(n_points: int, window: int, stride: int = 1) -> np.ndarray:
    """Start index of each window over ``n_points`` points: every ``stride``, plus one flush with the end if needed."""
    window, stride = check_positive_int("window", window), check_positive_int("stride", stride)
    if stride > window:
        raise ValueError(
            f"stride ({stride}) must not exceed window ({window}): the points between windows would get no score."
        )
    if n_points < window:
        raise ValueError(
            f"The series has {n_points} point(s), fewer than one window of {window}: use a shorter "
            "window or a longer series."
        )
    starts = np.arange(0, n_points - window + 1, stride)
    if starts[-1] != n_points - window:
        starts = np.append(starts, n_points - window)
    return starts


def sliding_windows(series: np.ndarray, window: int, stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Windows ``(n_windows, window, channels)`` of a series ``(T,)`` or ``(T, channels)`` and their start indices.
    The windows are a read-only view where the strides allow (no copy of the series per window)."""
    series = np.asarray(series)
    if series.ndim == 1:
        series = series[:, None]
    if series.ndim != 2:
        raise ValueError(f"A series is (points,) or (points, channels); got shape {series.shape}.")
    starts = window_starts(len(series), window, stride)
    view = np.lib.stride_tricks.sliding_window_view(series, window, axis=0)  # (T - window + 1, channels, window)
    return view[starts].transpose(0, 2, 1), starts


def point_scores(window_scores, starts: np.ndarray, window: int, n_points: int, rule: str = "mean") -> np.ndarray:
    """Per-point scores ``(n_points,)`` from window scores: the ``rule`` (mean or max) over the covering windows.

    ``window_scores`` is one score per window ``(n_windows,)``, given to each point it covers, or one per window and
    position ``(n_windows, window)`` (say each point's reconstruction NLL in that window), which localises a short
    anomaly to its own points rather than to the whole window.
    """
    window_scores = np.asarray(window_scores, dtype=np.float64)
    if rule not in POINT_RULES:
        raise ValueError(f"rule must be one of {POINT_RULES}, got {rule!r}.")
    if window_scores.shape not in (starts.shape, (len(starts), window)):
        raise ValueError(f"window scores of shape {window_scores.shape} for {len(starts)} windows of {window} points.")
    index = (starts[:, None] + np.arange(window)[None]).ravel()
    values = np.repeat(window_scores, window) if window_scores.ndim == 1 else window_scores.ravel()
    if rule == "max":
        out = np.full(n_points, -np.inf)
        np.maximum.at(out, index, values)
    else:
        out = np.bincount(index, weights=values, minlength=n_points) / np.bincount(index, minlength=n_points)
    if not np.isfinite(out).all():
        raise ValueError("Some points are covered by no window: the starts do not cover the series.")
    return out


AUTO_WINDOW_FLOOR = 16
"""The shortest window ``window="auto"`` chooses: fewer points hold too little shape to learn."""
AUTO_WINDOW_CAP = 256
"""The longest window ``window="auto"`` chooses (and the longest period it looks for): longer windows make wide,
slow networks, and a period that long is better handled by resampling the series."""
AUTO_WINDOW_FALLBACK = 64
"""The window of a series with no clear period (the detector's fixed default before ``"auto"``)."""
MIN_PERIOD_STRENGTH = 0.3
"""The autocorrelation a lag must reach to count as the series' period."""
PERIOD_PEAK_SHARE = 0.8
"""A peak within this share of the strongest one counts as the period if it comes first (its multiples come later)."""
PERIOD_SEARCH_POINTS = 100_000
"""The most points (the last ones) the period search reads, so it stays fast on a long series."""


def dominant_period(series: np.ndarray, max_period: int = AUTO_WINDOW_CAP) -> int | None:
    """The series' dominant period in points, or None when it has none.

    Each channel is standardised and its autocorrelation computed (by FFT) up to ``max_period``; the period is the
    first local peak of the channels' mean autocorrelation that comes within :data:`PERIOD_PEAK_SHARE` of the
    strongest peak, if that reaches :data:`MIN_PERIOD_STRENGTH`. A sine of period 50 gives 50 (not 100 or 150);
    noise or a random walk gives None."""
    values = np.asarray(series, dtype=np.float64)
    values = values.reshape(len(values), -1)[-PERIOD_SEARCH_POINTS:]
    n = len(values)
    max_lag = min(max_period, n // 2)
    if max_lag < 3:
        return None
    spread = values.std(axis=0)
    values = (values[:, spread > 0] - values[:, spread > 0].mean(axis=0)) / spread[spread > 0]
    if values.shape[1] == 0:
        return None
    size = 1 << int(np.ceil(np.log2(2 * n)))
    power = np.abs(np.fft.rfft(values, n=size, axis=0)) ** 2
    acf = np.fft.irfft(power, n=size, axis=0)[: max_lag + 2].mean(axis=1)
    acf = acf / acf[0] * n / (n - np.arange(len(acf)))  # unbiased: each lag over its own number of pairs
    lags = np.arange(2, max_lag + 1)
    peaks = lags[(acf[lags] > acf[lags - 1]) & (acf[lags] >= acf[lags + 1])]
    if len(peaks) == 0:
        return None
    strongest = acf[peaks].max()
    if strongest < MIN_PERIOD_STRENGTH:
        return None
    # the period's multiples correlate about as well as the period itself: take the first peak near the strongest
    return int(peaks[acf[peaks] >= PERIOD_PEAK_SHARE * strongest][0])


def auto_window(series: np.ndarray, periods: int = 1) -> int:
    """The window ``window="auto"`` picks: ``periods`` dominant periods, kept within [:data:`AUTO_WINDOW_FLOOR`,
    :data:`AUTO_WINDOW_CAP`]; :data:`AUTO_WINDOW_FALLBACK` for a series without a clear period."""
    return window_for_period(dominant_period(series), periods)


def window_for_period(period: int | None, periods: int = 1) -> int:
    """The window of :func:`auto_window` for a period already found (None: no clear period)."""
    if period is None:
        return AUTO_WINDOW_FALLBACK
    return int(np.clip(periods * period, AUTO_WINDOW_FLOOR, AUTO_WINDOW_CAP))
