"""The fit pipeline: read a table, fit preprocessing + VAE detector, set the threshold, log to MLflow
(an image folder or image array goes to :mod:`pipelines.fit_images` instead, and a time series, told by
``--time-column`` or ``--window``, to :mod:`pipelines.fit_series`).

The model bundle is always saved locally first (``<output_dir>/<run>/model``),
so a tracking failure never loses the trained model.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.settings import FitSettings


@dataclass
class FitResult:
    run_id: str | None
    model_uri: str | None
    local_model: Path
    threshold: float
    metrics: dict
    registered_version: int | None = None
    tracking_error: str | None = None


MODALITY = "table"
"""This pipeline's modality, as run names and tags show it (:mod:`pipelines.run_identity`)."""

N_SAMPLES = 50
"""Rows drawn from the fitted model into the run's ``samples/samples.json`` table (MLflow's table view)."""


class TrainingInterrupted(RuntimeError):
    """Ctrl-C or SIGTERM during fit; the message says where the checkpoint is."""


def save_new(bundle, folder: Path) -> Path:
    """Save ``bundle`` at ``folder``, or at ``folder-2``, ``-3``... if a model is already there: a saved
    model (perhaps the only copy of an earlier fit with the same run name) is never replaced."""
    from anomaly_vae.persistence.atomic import FolderExistsError

    for n in range(1, 1000):
        target = folder if n == 1 else folder.with_name(f"{folder.name}-{n}")
        try:
            saved = bundle.save(target, replace=False)
        except FolderExistsError:
            continue
        if n > 1:
            print(f"{folder} already holds a model from an earlier fit; this one is saved to {saved}.", file=sys.stderr)
        return saved
    raise ValueError(f"{folder} and its 999 numbered siblings already hold models; choose another --run-name.")


def local_dataset_source(path: str):
    """MLflow's dataset source for a local file, named explicitly: MLflow registers its local-file source
    twice, and resolving a plain path warns that it "can be interpreted in multiple ways"."""
    from mlflow.data.dataset_source_registry import get_registered_sources, resolve_dataset_source

    local = next(s for s in get_registered_sources() if s.__name__ == "LocalArtifactDatasetSource")
    return resolve_dataset_source(str(Path(path).resolve()), candidate_sources=[local])


def split_label(frame: pd.DataFrame, label: str | None) -> tuple[pd.DataFrame, np.ndarray | None]:
    """The frame and its label column as 0/1 (1 = anomaly), or None when there is no label."""
    if not label:
        return frame, None
    if label not in frame.columns:
        raise ValueError(f"Label column {label!r} not found; the data has {list(frame.columns)}.")
    y = frame[label]
    if y.isna().any():
        raise ValueError(f"Label column {label!r} has {int(y.isna().sum())} missing value(s).")
    values = set(pd.unique(y.astype(int))) if pd.api.types.is_numeric_dtype(y) or y.dtype == bool else None
    if values is None or not values <= {0, 1}:
        raise ValueError(f"Label column {label!r} must hold 0 (normal) and 1 (anomaly); found {sorted(map(str, pd.unique(y)))[:5]}.")
    return frame, y.astype(int).to_numpy()


def evaluate(bundle, Xt: np.ndarray, eval_frame: pd.DataFrame | None, y_eval: np.ndarray | None):
    """Final metrics and the review plots, on the labelled evaluation data when given,
    else on the training rows (preprocessed ``Xt``) and the held-out calibration scores."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    from pipelines import calibration_report, interactive, plots

    detector = bundle.detector
    cal = detector.calibration_scores_
    metrics = {"n_epochs": float(detector.n_epochs_), **calibration_report.metrics(detector)}
    metrics.update({f"val_score_q{int(q * 100)}": float(np.quantile(detector.validation_scores_, q))
                    for q in (0.5, 0.9, 0.95, 0.99)})
    figures = {"training_curves.png": plots.training_curves(detector.history_, detector.training_plan_["epoch_kept"]),
               **calibration_report.figures(detector)}
    if eval_frame is None:
        figures["score_histogram.png"] = plots.score_histogram(cal, detector.threshold_, title="Calibration scores")
        figures["score_histogram.html"] = interactive.score_histogram(cal, detector.threshold_,
                                                                      title="Calibration scores")
        figures["latent_means.png"] = plots.latent_view(detector.latent_means(Xt))
        per_input = bundle.input_feature_scores(Xt)
        figures["feature_scores.png"] = plots.feature_score_bars(per_input.mean(), "Mean per-feature score (training rows)")
        return metrics, figures
    Xe = bundle.transform(eval_frame)
    scores = detector.anomaly_score(Xe)
    metrics["eval_anomaly_rate"] = float(np.mean(scores > detector.threshold_))
    labelled = y_eval is not None and len(set(y_eval)) == 2
    if labelled:
        metrics.update(eval_roc_auc=float(roc_auc_score(y_eval, scores)),
                       eval_average_precision=float(average_precision_score(y_eval, scores)))
        figures["roc_pr_curves.png"] = plots.roc_pr_curves(y_eval, scores)
    figures["score_histogram.png"] = plots.score_histogram(scores, detector.threshold_, reference=cal, labels=y_eval,
                                                           title="Evaluation scores")
    figures["score_histogram.html"] = interactive.score_histogram(scores, detector.threshold_, reference=cal,
                                                                  labels=y_eval, title="Evaluation scores")
    figures["latent_means.png"] = plots.latent_view(detector.latent_means(Xe), y_eval)
    per_input = bundle.input_feature_scores(Xe)
    if labelled:
        per_input = per_input[y_eval == 1]
    title = "Mean per-feature score" + (" (labelled anomalies)" if labelled else " (evaluation rows)")
    figures["feature_scores.png"] = plots.feature_score_bars(per_input.mean(), title)
    return metrics, figures


def run_fit(settings: FitSettings) -> FitResult:
    import keras
    import mlflow

    from anomaly_vae import VAEAnomalyDetector
    from pipelines import calibration_report
    from pipelines.bundle import ModelBundle
    from pipelines.checkpoints import Checkpoint
    from pipelines.image_files import is_image_input
    from pipelines.preprocessing import build_preprocessor, onehot_groups
    from pipelines.schema import Schema
    from pipelines.settings import table_detector_params
    from pipelines.stop_on_signal import StopOnSignal
    from pipelines.tables import read_table
    from pipelines.tracking import (
        MLflowEpochLogger,
        environment_params,
        log_bundle_model,
        log_fit_record,
        log_metrics_and_plots,
        start_fit_run,
    )

    if is_image_input(settings.data):
        from pipelines.fit_images import run_image_fit

        return run_image_fit(settings)
    if settings.time_column is not None or settings.window is not None:
        from pipelines.fit_series import run_series_fit

        return run_series_fit(settings)
    settings.check()  # flags that cannot work fail here, before any data is read
    frame = read_table(settings.data)
    print(f"Input: a table from {settings.data!r}: {len(frame)} rows, {frame.shape[1]} columns", file=sys.stderr)
    schema = Schema.infer(frame, settings.label_column, settings.drop_columns, settings.categorical_columns)
    print("Columns: " + "; ".join(schema.describe(frame, settings.categorical_columns is not None)), file=sys.stderr)
    _, y = split_label(frame, settings.label_column)
    train = frame if (y is None or not settings.normal_only) else frame[y == 0]
    if len(train) < 2:
        raise ValueError(f"Need at least 2 training rows; {settings.data!r} gives {len(train)}.")
    eval_frame = y_eval = None
    if settings.eval_data:
        eval_frame = read_table(settings.eval_data)
        _, y_eval = split_label(eval_frame, settings.label_column)

    detector = VAEAnomalyDetector(**table_detector_params(settings.detector_params()))
    checkpoint = Checkpoint.resume(settings) if settings.resume else None
    previous = checkpoint.run_info() if checkpoint else None
    run, active, run_name = start_fit_run(settings, MODALITY, previous)
    if checkpoint is None:
        try:
            checkpoint = Checkpoint.create(settings, run_name)
        except BaseException:
            run.finish("FAILED")
            raise
    checkpoint.write_run_info({"run_id": run.run_id, "run_name": run_name, "data": str(Path(settings.data).resolve())})
    local_model = Path(settings.output_dir) / run_name / "model"
    status = "FAILED"
    metrics: dict = {}
    model_uri = registered = None
    try:
        if previous is None:  # a resumed run already has its parameters and input
            run.call(mlflow.log_params, {**{k: str(v) for k, v in asdict(settings).items() if k != "resume"},
                                         **environment_params()})
            run.call(mlflow.log_params, {f"schema.{k}": str(v) for k, v in schema.to_dict().items()})
            # integer columns recorded as float64, as MLflow advises: a later file may have gaps in them
            record = frame.astype({c: "float64" for c in frame.columns if pd.api.types.is_integer_dtype(frame[c])})
            run.call(mlflow.log_input, mlflow.data.from_pandas(record, source=local_dataset_source(settings.data),
                                                               targets=settings.label_column, name=Path(settings.data).name),
                     context="training")

        conformed = schema.conform(train)
        preprocessor = build_preprocessor(schema).fit(conformed)
        Xt = preprocessor.transform(conformed)
        if settings.categorical_likelihood and schema.categorical:
            detector.set_params(categorical_groups=onehot_groups(preprocessor, schema))
        backup = keras.callbacks.BackupAndRestore(str(checkpoint.keras_folder), double_checkpoint=True)
        stop = StopOnSignal()
        try:
            detector.fit(Xt, callbacks=[backup, MLflowEpochLogger(run), stop])
        finally:
            stop.on_train_end()
        print(calibration_report.describe(detector), file=sys.stderr)
        bundle = ModelBundle.for_training(schema, preprocessor, detector, conformed)
        local_model = save_new(bundle, local_model)
        checkpoint.remove()
        print(f"Model saved locally to {local_model}", file=sys.stderr)

        metrics, figures = evaluate(bundle, Xt, eval_frame, y_eval)
        metrics.update(n_train_rows=float(len(train)), n_input_features=float(len(schema.columns)),
                       n_model_features=float(Xt.shape[1]))
        log_metrics_and_plots(run, metrics, figures)
        description = log_fit_record(run, detector, MODALITY, settings, metrics)

        run.call(mlflow.log_table, bundle.sample(N_SAMPLES, random_state=0), artifact_file="samples/samples.json")
        if run.error is None:
            example = schema.conform(train.head(5))  # numbers as float64: what the model takes, NaN included
            model_uri, registered = log_bundle_model(run, local_model, bundle.signature(example), example, settings,
                                                     description)
        status = "FINISHED" if run.error is None else "FAILED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise TrainingInterrupted(
            f"Training interrupted. The last completed epoch is checkpointed in {checkpoint.folder}; "
            "run the same command with --resume to continue" + (f" (MLflow run {run.run_id})." if run.run_id else ".")
        ) from None
    except Exception:
        if not checkpoint.keras_folder.exists():  # failed before a first epoch: nothing to resume
            checkpoint.remove()
        raise
    finally:
        checkpoint.release()
        if active is not None:
            run.finish(status)
    return FitResult(run.run_id, model_uri, local_model, detector.threshold_, metrics, registered,
                     None if run.error is None else f"{type(run.error).__name__}: {run.error}")


if __name__ == "__main__":
    from pipelines.cli import app

    app(["fit", *sys.argv[1:]], prog_name="python -m pipelines.fit")
