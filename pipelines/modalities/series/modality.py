"""Time series: a table with a time column (``--time-column``) or a series of values (``--window`` alone).

``VAESeriesDetector`` is fitted on sliding windows; the model folder is a
:class:`~pipelines.modalities.series.bundle.SeriesBundle`. The whole file is the training series: points cannot be
dropped from a series without breaking its time steps, so a ``--label-column`` does not remove labelled anomalies
from training (a warning counts them); the labels are shown on the plot and measured against (VUS-PR, range-based
and point-wise PR-AUC, ROC-AUC). ``--eval-data`` names another labelled stretch of the same series to plot and
measure instead. Scoring reads the whole file, since windows cross any chunk boundary.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipelines.modalities.contract import Calibration, Modality, ScoredFile, TrainingData
from pipelines.modalities.series.bundle import SeriesBundle


def read_series(path: str, settings, detector) -> tuple[pd.DataFrame, np.ndarray | None]:
    """The series' time and value columns from the file at ``path`` and its labels (0/1 per point) if labelled."""
    from pipelines.modalities.table.modality import split_label
    from pipelines.tables import read_table

    frame = read_table(path)
    frame, labels = split_label(frame, settings.label_column)
    dropped = [c for c in [settings.label_column, *(settings.drop_columns or [])] if c]
    unknown = [c for c in dropped[1 if settings.label_column else 0 :] if c not in frame.columns]
    if unknown:
        raise ValueError(f"--drop-column {unknown[0]!r} is not a column of {path!r}; it has {list(frame.columns)}.")
    frame = frame.drop(columns=[c for c in dropped if c in frame.columns])
    if detector.time_column is None and len(frame.columns) == 0:
        raise ValueError(f"{path!r} has no value column left to model.")
    return frame, labels


def series_detector_params(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` for ``VAESeriesDetector``, refusing an option it does not have by its flag."""
    from anomaly_vae import VAESeriesDetector
    from pipelines.detector_options import flag

    other = sorted(k for k in params if k not in VAESeriesDetector().get_params())
    if other:
        raise ValueError(f"{', '.join(flag(k) for k in other)} do not apply to time series.")
    return params


def describe_window(window, values: np.ndarray) -> str:
    """The windows a fit will use, in words: the given size, or the one ``window="auto"`` picks and why."""
    from anomaly_vae.detectors.windows import dominant_period, window_for_period

    if window != "auto":
        return f"windows of {window}"
    period = dominant_period(values)
    why = f"one period of the series, {period} points" if period is not None else "no clear period: the fallback"
    return f"windows of {window_for_period(period)} (window auto: {why})"


def series_measures(labels: np.ndarray, scores: np.ndarray, window: int) -> dict[str, float]:
    """VUS-PR (buffers up to twice the window), range-based PR-AUC (buffer = the window), point-wise PR-AUC and
    ROC-AUC: the measures of ``benchmarks/timeseries.py``."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    from anomaly_vae.evaluation.series_metrics import range_pr_auc, vus_pr

    return {
        "eval_vus_pr": vus_pr(labels, scores, 2 * window),
        "eval_range_pr_auc": range_pr_auc(labels, scores, window),
        "eval_average_precision": float(average_precision_score(labels, scores)),
        "eval_roc_auc": float(roc_auc_score(labels, scores)),
    }


class SeriesModality(Modality):
    name = "series"
    nouns = ("time series", "time point", "windows")
    unit = "time points"
    bundle_class = SeriesBundle

    @classmethod
    def claims(cls, settings) -> bool:
        return settings.time_column is not None or settings.window is not None

    def build_detector(self, settings):
        from anomaly_vae import VAESeriesDetector

        return VAESeriesDetector(**series_detector_params(settings.detector_params()))

    def read(self, settings, detector) -> TrainingData:
        from mlflow.data.pandas_dataset import from_pandas

        from anomaly_vae.inputs.series_input import check_series
        from pipelines.modalities.table.modality import local_dataset_source

        self.settings = settings
        self.frame, labels = read_series(settings.data, settings, detector)
        series = check_series(self.frame, detector.time_column, what=repr(settings.data))
        when = f", {series.times[0]} to {series.times[-1]} every {series.step}" if series.times is not None else ""
        print(
            f"Input: a time series from {settings.data!r}: {len(self.frame)} points, {len(series.columns)} value "
            f"column(s) {series.columns}{when}; {describe_window(detector.window, series.values)} every "
            f"{detector.stride}",
            file=sys.stderr,
        )
        if labels is not None and labels.any():
            print(
                f"warning: {int(labels.sum())} labelled anomalous points stay in the training series (points cannot "
                "be dropped from a series); fit on a normal stretch for a cleaner model.",
                file=sys.stderr,
            )
        self.evaluation = (
            read_series(settings.eval_data, settings, detector) if settings.eval_data else (self.frame, labels)
        )
        dataset = from_pandas(self.frame, source=local_dataset_source(settings.data), name=Path(settings.data).name)
        return TrainingData(
            len(self.frame), {"n_train_points": str(len(self.frame)), "value_columns": str(series.columns)}, dataset
        )

    def fit(self, detector, callbacks: list):
        detector.fit(self.frame, callbacks=callbacks)
        return SeriesBundle(detector)

    def evaluate(self, bundle):
        from anomaly_vae.inputs.series_input import check_series
        from pipelines.modalities.series import plots as series_plots
        from pipelines.review import interactive

        detector = bundle.detector
        shown, shown_labels = self.evaluation
        scores = detector.anomaly_score(shown)
        shown_series = check_series(shown, detector.time_column)
        metrics = {
            "n_train_points": float(len(self.frame)),
            "eval_anomaly_rate": float(np.mean(scores > detector.threshold_)),
        }
        if shown_labels is not None and 0 < shown_labels.sum() < len(shown_labels):
            metrics.update(series_measures(shown_labels, scores, detector.window_))
        shown_as = (
            shown_series.values,
            shown_series.columns,
            scores,
            detector.threshold_,
            shown_series.times,
            shown_labels,
        )
        title = f"{Path(self.settings.eval_data or self.settings.data).name}: series and score"
        return metrics, {
            "series_scores.png": series_plots.series_scores(*shown_as, title=title),
            "series_scores.html": interactive.series_scores(*shown_as, title=title),
        }

    def model_example(self, bundle):
        example = bundle.series(self.frame.head(max(bundle.detector.window_, 1)))
        return bundle.signature(example), example

    def check_score(self, settings) -> None:
        if settings.maps:
            raise ValueError("--maps is for image models; this model scores a time series.")

    def score_file(self, settings, bundle) -> ScoredFile:
        """Score the series in ``settings.data`` (the whole file: windows cross any chunk boundary); write its rows
        plus the score columns, one per time point, atomically."""
        from anomaly_vae.decisions.p_values import bh_cutoff, conformal_p_values
        from pipelines.score_columns import score_columns
        from pipelines.tables import read_table, write_table_atomic

        frame = read_table(settings.data)
        try:
            scores = bundle.detector.anomaly_score(bundle.series(frame))
        except ValueError as err:
            raise ValueError(f"{settings.data!r}, model {settings.model_uri!r}: {err}") from None
        cutoff = None
        if settings.fdr is not None:
            cutoff = bh_cutoff(conformal_p_values(bundle.detector.calibration_scores_, scores), settings.fdr)
        result = pd.DataFrame(score_columns(bundle.detector, scores, cutoff), index=frame.index)
        clashes = {c: f"{c}_input" for c in result.columns if c in frame.columns}
        table = pd.concat([frame.rename(columns=clashes), result], axis=1)
        write_table_atomic([table], settings.output, replace=settings.overwrite)
        return ScoredFile(len(table), int(table["is_anomaly"].sum()), scores)

    def calibrate(self, bundle, path: str) -> Calibration:
        """A normal stretch: every point of it calibrates."""
        from pipelines.tables import read_table

        frame = bundle.series(read_table(path))
        bundle.detector.set_threshold(frame)
        example = frame.head(bundle.detector.window_)
        return Calibration(bundle.signature(example), example)

    def write_samples(self, draws, output: Path, overwrite: bool) -> str:
        from pipelines.tables import write_table_atomic

        def frames():
            for start, frame in draws:  # windows numbered through the whole file
                frame["window"] += start
                yield frame

        write_table_atomic(frames(), output, replace=overwrite)
        return "windows"
