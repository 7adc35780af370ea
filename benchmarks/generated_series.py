"""A seeded set of generated time series with injected anomalies of known kinds, for ``benchmarks/timeseries.py``.

Each series has a normal training part and a test part of ``LENGTH`` points each, drawn from one base signal:

- ``sine``: a sine with a weaker second harmonic (period 30-60 points), Gaussian noise;
- ``ecg``: an ECG-like beat (a sharp R peak between a P and a T wave, period 40-70 points), Gaussian noise;
- ``random_walk``: a mean-reverting random walk (Ornstein-Uhlenbeck, no period).

Every base is a function of a phase that advances one step per point, so a frequency anomaly is the same signal with
the phase advancing faster. The test part holds 1-3 anomalies of one kind (labels 1 on their points):

- ``spike``: single points pushed 4-6 standard deviations away;
- ``level_shift``: a stretch of 40-100 points offset by 1.5-2.5 standard deviations;
- ``frequency``: a stretch played 1.6-2.2 times faster;
- ``amplitude``: a stretch whose deviation from the mean is scaled by 2-3 (or by 0.2-0.3, a damped stretch);
- ``pattern``: a stretch replaced by a sawtooth of the signal's period and spread;
- ``noise``: a stretch with added noise of 0.6-1 standard deviations.

``generated_set(n)`` cycles the kinds (and, within a kind, the bases) so that 24 series hold every kind 4 times and
every kind-base pair at least once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LENGTH = 2_000
"""Points in the training part and in the test part of each generated series."""

KINDS = ("spike", "level_shift", "frequency", "amplitude", "pattern", "noise")
BASES = ("sine", "ecg", "random_walk")


@dataclass
class LabelledSeries:
    name: str
    kind: str
    train: np.ndarray  # (T_train, channels), normal
    test: np.ndarray  # (T_test, channels)
    labels: np.ndarray  # (T_test,) 0/1


def _base(kind: str, phase: np.ndarray, rng: np.random.Generator, period: float) -> np.ndarray:
    if kind == "sine":
        angle = 2 * np.pi * phase / period
        return np.sin(angle) + 0.3 * np.sin(2 * angle + 0.5)
    if kind == "ecg":
        x = (phase / period) % 1.0
        bump = lambda centre, width: np.exp(-0.5 * ((x - centre) / width) ** 2)  # noqa: E731
        return (
            0.15 * bump(0.2, 0.04)
            - 0.1 * bump(0.33, 0.01)
            + 1.0 * bump(0.36, 0.012)
            - 0.2 * bump(0.39, 0.01)
            + 0.3 * bump(0.6, 0.06)
        )
    # random_walk: an Ornstein-Uhlenbeck path on a grid, read at the phase (linear interpolation)
    grid = np.arange(int(np.ceil(phase.max())) + 2)
    path = np.zeros(len(grid))
    for i in range(1, len(grid)):
        path[i] = 0.97 * path[i - 1] + rng.normal(0, 0.25)
    return np.interp(phase, grid, path)


def generate(kind: str, base: str, seed: int, length: int = LENGTH) -> LabelledSeries:
    """One series of ``base`` with anomalies of ``kind`` in its test part."""
    rng = np.random.default_rng(seed)
    period = float(rng.uniform(30, 60) if base != "ecg" else rng.uniform(40, 70))
    n = 2 * length
    labels = np.zeros(n, dtype=np.int8)
    speed = np.ones(n)
    n_anomalies = 3 if kind == "spike" else int(rng.integers(1, 4))
    slots = np.sort(rng.choice(np.arange(length + 100, n - 150, 200), n_anomalies, replace=False))
    ranges = []
    for start in slots:
        size = int(rng.integers(1, 3)) if kind == "spike" else int(rng.integers(40, 101))
        ranges.append((start, start + size))
        labels[start : start + size] = 1
        if kind == "frequency":
            speed[start : start + size] = rng.uniform(1.6, 2.2)
    phase = np.cumsum(speed) - 1
    signal = _base(base, phase, rng, period)
    spread = signal[:length].std()
    signal = signal + rng.normal(0, 0.05 * spread, n)
    for start, stop in ranges:
        part = slice(start, stop)
        if kind == "spike":
            signal[part] += rng.choice([-1, 1]) * rng.uniform(4, 6) * spread
        elif kind == "level_shift":
            signal[part] += rng.choice([-1, 1]) * rng.uniform(1.5, 2.5) * spread
        elif kind == "amplitude":
            centre = signal[:length].mean()
            factor = rng.uniform(2, 3) if rng.random() < 0.5 else rng.uniform(0.2, 0.3)
            signal[part] = centre + factor * (signal[part] - centre)
        elif kind == "pattern":
            saw = ((np.arange(stop - start) / period) % 1.0) * 2 - 1
            signal[part] = signal[:length].mean() + np.sqrt(3) * spread * saw
        elif kind == "noise":
            signal[part] += rng.normal(0, rng.uniform(0.6, 1.0) * spread, stop - start)
    return LabelledSeries(f"{kind}-{base}-{seed}", kind, signal[:length, None], signal[length:, None], labels[length:])


def generated_set(n_series: int = 24, seed: int = 0) -> list[LabelledSeries]:
    """``n_series`` series cycling through the kinds, and through the bases within each kind."""
    out = []
    for i in range(n_series):
        kind = KINDS[i % len(KINDS)]
        base = BASES[(i // len(KINDS) + KINDS.index(kind)) % len(BASES)]
        out.append(generate(kind, base, seed * 1000 + i))
    return out
