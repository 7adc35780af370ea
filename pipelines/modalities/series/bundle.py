"""``SeriesBundle``: a fitted ``VAESeriesDetector`` saved as one folder and scored as one unit, the time-series twin of
:class:`pipelines.modalities.table.bundle.ModelBundle` (the fit pipeline saves it, the pyfunc model and ``anomaly-vae score`` load it).

The pyfunc's input is the series itself: a DataFrame with the time column (if the model has one) and the value
columns, one row per time point, in time order. Output: ``anomaly_score``, ``p_value`` and ``is_anomaly`` per time
point. A request must hold at least one window of points; the scores of the first and last points of a request rest
on fewer windows than those in its middle, so score a stretch with some context around the points that matter.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from anomaly_vae.choices import SAMPLE_CODES

SERIES_BUNDLE_FORMAT = 1
DOCUMENT = "series_bundle.json"


@dataclass
class SeriesBundle:
    DOCUMENT = DOCUMENT  # the file that marks a folder as this bundle's (read by pipelines.modalities)

    detector: Any  # fitted anomaly_vae.VAESeriesDetector

    @property
    def columns(self) -> list[str]:
        """The columns the model reads: the time column (if any), then the value columns."""
        names = getattr(self.detector, "feature_names_in_", None)
        values = (
            [str(c) for c in names] if names is not None else [f"x{i}" for i in range(self.detector.n_features_in_)]
        )
        time = self.detector.time_column
        return ([time] if time else []) + values

    def series(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The model's columns of ``frame`` (others, such as a label, are left out), or an error naming the missing."""
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise ValueError(f"The series lacks the model's column(s) {missing}; it has {list(frame.columns)}.")
        return frame[self.columns]

    def score(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The pyfunc contract: one row per time point in, its score columns out (module docstring)."""
        from pipelines.score_columns import score_columns

        if len(frame) == 0:
            raise ValueError("Nothing to score: the input has no rows.")
        scores = self.detector.anomaly_score(self.series(frame))
        return pd.DataFrame(score_columns(self.detector, scores), index=frame.index)

    def sample(
        self, n_samples: int, random_state=None, noise: bool = True, codes: str = SAMPLE_CODES[0]
    ) -> pd.DataFrame:
        """``n_samples`` new windows as one long table: ``window`` (which sample), ``step`` (0 to window - 1) and the
        value columns, in the series' units."""
        import numpy as np

        windows = self.detector.sample(n_samples, random_state=random_state, noise=noise, codes=codes)
        n, length, _ = windows.shape
        frame = pd.DataFrame(
            windows.reshape(n * length, -1), columns=self.columns[1 if self.detector.time_column else 0 :]
        )
        frame.insert(0, "step", np.tile(np.arange(length), n))
        frame.insert(0, "window", np.repeat(np.arange(n), length))
        return frame

    def signature(self, example: pd.DataFrame):
        from mlflow.models import infer_signature

        example = self.series(example)
        return infer_signature(example, self.score(example))

    def save(self, folder: str | os.PathLike, replace: bool = True) -> Path:
        """Write ``series_bundle.json`` and ``detector/`` atomically."""
        from pipelines.modalities.detector_bundle import save_detector_bundle

        return save_detector_bundle(self.detector, folder, DOCUMENT, "series", SERIES_BUNDLE_FORMAT, replace=replace)

    @classmethod
    def load(cls, folder: str | os.PathLike) -> SeriesBundle:
        from anomaly_vae.detectors.series_detector import VAESeriesDetector
        from pipelines.modalities.detector_bundle import load_detector_bundle

        return cls(load_detector_bundle(folder, DOCUMENT, "series", SERIES_BUNDLE_FORMAT, VAESeriesDetector, "series"))
