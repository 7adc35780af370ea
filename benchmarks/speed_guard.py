"""The speed benchmark's guard: each figure against its bound and against the previous release's figure.

``speed.py`` calls :func:`guard` on its table; ``python benchmarks/speed.py --compare CSV`` runs it on a table written
earlier. A figure past its bound fails the run (exit 1); a figure worse than the previous release's by more than
``NOISE`` (this shared machine has swung 1.6x within a minute) is listed as a regression, without failing, so a slow
spell is seen and rerun rather than hidden. The previous release's figures are ``speed_previous.csv`` beside this
file; after a release, copy the new table there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

PREVIOUS = Path(__file__).resolve().parent / "speed_previous.csv"

NOISE = 0.20
"""A figure counts as worse than the previous release only past this relative margin."""


@dataclass(frozen=True)
class Bound:
    column: str
    limit: float
    higher_is_better: bool
    what: str

    def met(self, value: float) -> bool:
        return value >= self.limit if self.higher_is_better else value <= self.limit


def bounds(backend: str) -> list[Bound]:
    """The acceptance bounds of the speed issues (ratios against the raw loop, for rows and for images, time to first
    result, the speed-up over PyOD's VAE, peak memory scoring 10M rows); a figure the table lacks (TensorFlow has no
    raw image loop) is not checked."""
    return [
        Bound("train_b256_ratio", 1.15 if backend == "jax" else 1.5, False, "training time / raw loop, batch 256"),
        Bound("score_ratio", 0.8, True, "scoring throughput / raw"),
        Bound("image_b64_ratio", 1.2 if backend == "jax" else 1.5, False, "image VAE training / raw loop, batch 64"),
        Bound("ttfr_s", 15.0 if backend == "tensorflow" else 10.0, False, "time to first result (s)"),
        Bound("pyod_speedup", 5.0, True, "speed-up over PyOD's VAE"),
        Bound("big_peak_rss_mib", 2048.0, False, "peak RSS scoring 10M rows (MiB)"),
    ]


def guard(table: pd.DataFrame, previous: pd.DataFrame | None = None) -> tuple[list[str], bool]:
    """Lines to print, and whether every bound was met; ``table`` and ``previous`` are indexed by backend."""
    if previous is None and PREVIOUS.is_file():
        previous = pd.read_csv(PREVIOUS, index_col="backend")
    lines, ok = [], True
    for backend, row in table.iterrows():
        for bound in bounds(str(backend)):
            if bound.column not in row or pd.isna(row[bound.column]):
                continue
            value = float(row[bound.column])
            sign = ">=" if bound.higher_is_better else "<="
            verdict = "ok" if bound.met(value) else "BOUND BROKEN"
            ok &= bound.met(value)
            before = ""
            if previous is not None and backend in previous.index and bound.column in previous:
                old = float(previous.loc[backend, bound.column])
                change = (old - value) / old if bound.higher_is_better else (value - old) / old
                before = f"; previous {old:.4g}" + (f", WORSE by {change:.0%}" if change > NOISE else "")
            lines.append(f"[{backend}] {bound.what}: {value:.4g} (bound {sign} {bound.limit:g}: {verdict}{before})")
    return lines, ok
