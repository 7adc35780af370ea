"""The fit pipeline for a time series: read a table with a time column (``--time-column``) or a series of values
(``--window`` alone), fit ``VAESeriesDetector``, log the run, its review plot and one pyfunc model to MLflow (the
tables' pipeline, ``fit.py``, calls this when either option is given).

The whole file is the training series: points cannot be dropped from a series without breaking its time steps, so a
``--label-column`` does not remove labelled anomalies from training (a warning counts them); the labels are shown on
the plot and measured against (VUS-PR, range-based and point-wise PR-AUC, ROC-AUC). ``--eval-data`` names another
labelled stretch of the same series to plot and measure instead.
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

MODALITY = "series"
"""This pipeline's modality, as run names and tags show it (:mod:`pipelines.run_identity`)."""


def read_series(path: str, settings, detector) -> tuple[pd.DataFrame, np.ndarray | None]:
    """The series' time and value columns from the file at ``path`` and its labels (0/1 per point) if labelled."""
    from pipelines.fit import split_label
    from pipelines.tables import read_table

    frame = read_table(path)
    frame, labels = split_label(frame, settings.label_column)
    dropped = [c for c in [settings.label_column, *(settings.drop_columns or [])] if c]
    unknown = [c for c in dropped[1 if settings.label_column else 0:] if c not in frame.columns]
    if unknown:
        raise ValueError(f"--drop-column {unknown[0]!r} is not a column of {path!r}; it has {list(frame.columns)}.")
    frame = frame.drop(columns=[c for c in dropped if c in frame.columns])
    if detector.time_column is None and len(frame.columns) == 0:
        raise ValueError(f"{path!r} has no value column left to model.")
    return frame, labels


def series_measures(labels: np.ndarray, scores: np.ndarray, window: int) -> dict[str, float]:
    """VUS-PR (buffers up to twice the window), range-based PR-AUC (buffer = the window), point-wise PR-AUC and
    ROC-AUC: the measures of ``benchmarks/timeseries.py``."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    from anomaly_vae.evaluation.series_metrics import range_pr_auc, vus_pr

    return {"eval_vus_pr": vus_pr(labels, scores, 2 * window), "eval_range_pr_auc": range_pr_auc(labels, scores, window),
            "eval_average_precision": float(average_precision_score(labels, scores)),
            "eval_roc_auc": float(roc_auc_score(labels, scores))}


def run_series_fit(settings):
    import mlflow

    from anomaly_vae import VAESeriesDetector
    from anomaly_vae.inputs.series_input import check_series
    from pipelines import calibration_report, interactive, plots, series_plots
    from pipelines.fit import FitResult, local_dataset_source, save_new
    from pipelines.series_bundle import SeriesBundle
    from pipelines.settings import series_detector_params
    from pipelines.stop_on_signal import StopOnSignal
    from pipelines.tracking import (
        MLflowEpochLogger,
        environment_params,
        log_bundle_model,
        log_fit_record,
        log_metrics_and_plots,
        start_fit_run,
    )

    settings.check()
    if settings.resume or settings.checkpoint_dir:
        raise ValueError("--resume and --checkpoint-dir are not available for time series yet; fit again instead.")
    detector = VAESeriesDetector(**series_detector_params(settings.detector_params()))
    frame, labels = read_series(settings.data, settings, detector)
    series = check_series(frame, detector.time_column, what=repr(settings.data))  # fails before MLflow is touched
    when = f", {series.times[0]} to {series.times[-1]} every {series.step}" if series.times is not None else ""
    print(f"Input: a time series from {settings.data!r}: {len(frame)} points, {len(series.columns)} value column(s) "
          f"{series.columns}{when}; windows of {detector.window} every {detector.stride}", file=sys.stderr)
    if labels is not None and labels.any():
        print(f"warning: {int(labels.sum())} labelled anomalous points stay in the training series (points cannot be "
              "dropped from a series); fit on a normal stretch for a cleaner model.", file=sys.stderr)
    evaluation = (frame, labels)
    if settings.eval_data:
        evaluation = read_series(settings.eval_data, settings, detector)

    run, active, run_name = start_fit_run(settings, MODALITY)
    local_model = Path(settings.output_dir) / run_name / "model"
    status, metrics, model_uri, registered = "FAILED", {}, None, None
    try:
        run.call(mlflow.log_params, {**{k: str(v) for k, v in asdict(settings).items() if k != "resume"},
                                     **environment_params(), "n_train_points": str(len(frame)),
                                     "value_columns": str(series.columns)})
        run.call(mlflow.log_input, mlflow.data.from_pandas(frame, source=local_dataset_source(settings.data),
                                                           name=Path(settings.data).name), context="training")
        stop = StopOnSignal()
        try:
            detector.fit(frame, callbacks=[MLflowEpochLogger(run), stop])
        finally:
            stop.on_train_end()
        print(calibration_report.describe(detector, "time points"), file=sys.stderr)
        bundle = SeriesBundle(detector)
        local_model = save_new(bundle, local_model)
        print(f"Model saved locally to {local_model}", file=sys.stderr)

        shown, shown_labels = evaluation
        scores = detector.anomaly_score(shown)
        shown_series = check_series(shown, detector.time_column)
        metrics = {"n_epochs": float(detector.n_epochs_), "n_train_points": float(len(frame)),
                   "eval_anomaly_rate": float(np.mean(scores > detector.threshold_)),
                   **calibration_report.metrics(detector)}
        if shown_labels is not None and 0 < shown_labels.sum() < len(shown_labels):
            metrics.update(series_measures(shown_labels, scores, detector.window))
        shown_as = (shown_series.values, shown_series.columns, scores, detector.threshold_, shown_series.times,
                    shown_labels)
        title = f"{Path(settings.eval_data or settings.data).name}: series and score"
        figures = {"training_curves.png": plots.training_curves(detector.history_,
                                                                detector.training_plan_["epoch_kept"]),
                   **calibration_report.figures(detector, "time points"),
                   "series_scores.png": series_plots.series_scores(*shown_as, title=title),
                   "series_scores.html": interactive.series_scores(*shown_as, title=title)}
        log_metrics_and_plots(run, metrics, figures)
        description = log_fit_record(run, detector, MODALITY, settings, metrics)
        if run.error is None:
            example = bundle.series(frame.head(max(detector.window, 1)))
            model_uri, registered = log_bundle_model(run, local_model, bundle.signature(example), example, settings,
                                                     description)
        status = "FINISHED" if run.error is None else "FAILED"
    except KeyboardInterrupt:
        status = "KILLED"
        from pipelines.fit import TrainingInterrupted

        raise TrainingInterrupted("Training interrupted; series fits keep no checkpoint, so nothing was saved.") from None
    finally:
        if active is not None:
            run.finish(status)
    return FitResult(run.run_id, model_uri, local_model, detector.threshold_, metrics, registered,
                     None if run.error is None else f"{type(run.error).__name__}: {run.error}")
