"""The fit pipeline, one for every modality: read the input, fit the detector, set the threshold, save the model,
log the run to MLflow (parameters, per-epoch metrics, review plots, a description and one pyfunc model).

What differs between tables, images and time series is the modality's (:mod:`pipelines.modalities`); this file
never asks which one it holds. The model bundle is always saved locally first (``<output_dir>/<run>/model``), so a
tracking failure never loses the trained model. A modality with checkpoints (tables) keeps the last completed epoch
under ``--checkpoint-dir`` and continues it with ``--resume``.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from pathlib import Path

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


def run_fit(settings: FitSettings) -> FitResult:
    import keras
    import mlflow

    from pipelines import modalities
    from pipelines.checkpoints import Checkpoint, model_params
    from pipelines.review import calibration_report, plots
    from pipelines.stop_on_signal import StopOnSignal
    from pipelines.tracking.mlflow_runs import (
        MLflowEpochLogger,
        environment_params,
        log_bundle_model,
        log_fit_record,
        log_metrics_and_plots,
        start_fit_run,
    )

    modality = modalities.for_fit(settings)
    settings.check()  # flags that cannot work fail here, before any data is read
    if (settings.resume or settings.checkpoint_dir) and not modality.checkpoints:
        raise ValueError(
            f"--resume and --checkpoint-dir are not available for {modality.nouns[0]} yet; fit again instead."
        )
    detector = modality.build_detector(settings)
    detector._validate_params()  # a value only another modality's detector takes (--n-members auto on a table)
    data = modality.read(settings, detector)  # fails before MLflow is touched

    checkpoint = Checkpoint.resume(settings) if settings.resume else None
    previous = checkpoint.run_info() if checkpoint else None
    if checkpoint is not None:
        try:
            checkpoint.check_resumable(model_params(detector))
        except ValueError:
            checkpoint.release()
            raise
    run, active, run_name = start_fit_run(settings, modality.name, previous)
    if modality.checkpoints and checkpoint is None:
        try:
            checkpoint = Checkpoint.create(settings, run_name)
        except BaseException:
            run.finish("FAILED")
            raise
    if checkpoint is not None:
        checkpoint.write_run_info(
            {
                "run_id": run.run_id,
                "run_name": run_name,
                "data": str(Path(settings.data).resolve()),
                "detector": model_params(detector),
            }
        )
    local_model = Path(settings.output_dir) / run_name / "model"
    status = "FAILED"
    metrics: dict = {}
    model_uri = registered = None
    try:
        if previous is None:  # a resumed run already has its parameters and input
            run.call(
                mlflow.log_params,
                {
                    **{k: str(v) for k, v in asdict(settings).items() if k != "resume"},
                    **environment_params(),
                    **data.params,
                },
            )
            if data.dataset is not None:
                run.call(mlflow.log_input, data.dataset, context="training")
        stop = StopOnSignal()
        callbacks = [MLflowEpochLogger(run), stop]
        if checkpoint is not None:
            callbacks.insert(0, keras.callbacks.BackupAndRestore(str(checkpoint.keras_folder), double_checkpoint=True))
        try:
            bundle = modality.fit(detector, callbacks)
        finally:
            stop.on_train_end()
        print(calibration_report.describe(detector, modality.unit), file=sys.stderr)
        local_model = save_new(bundle, local_model)
        if checkpoint is not None:
            checkpoint.remove()
        print(f"Model saved locally to {local_model}", file=sys.stderr)

        own_metrics, own_figures = modality.evaluate(bundle)
        metrics = {"n_epochs": float(detector.n_epochs_), **calibration_report.metrics(detector), **own_metrics}
        figures = {
            "training_curves.png": plots.training_curves(detector.history_, detector.training_plan_["epoch_kept"]),
            **calibration_report.figures(detector, modality.unit),
            **own_figures,
        }
        log_metrics_and_plots(run, metrics, figures)
        description = log_fit_record(run, detector, modality, settings, metrics)
        modality.log_extras(run, bundle)
        if run.error is None:
            signature, example = modality.model_example(bundle)
            model_uri, registered = log_bundle_model(run, local_model, signature, example, settings, description)
        status = "FINISHED" if run.error is None else "FAILED"
    except KeyboardInterrupt:
        status = "KILLED"
        if checkpoint is None:
            raise TrainingInterrupted(
                f"Training interrupted; {modality.nouns[0]} fits keep no checkpoint, so nothing was saved."
            ) from None
        raise TrainingInterrupted(
            f"Training interrupted. The last completed epoch is checkpointed in {checkpoint.folder}; "
            "run the same command with --resume to continue" + (f" (MLflow run {run.run_id})." if run.run_id else ".")
        ) from None
    except Exception:
        if checkpoint is not None and not checkpoint.keras_folder.exists():  # failed before a first epoch
            checkpoint.remove()
        raise
    finally:
        if checkpoint is not None:
            checkpoint.release()
        if active is not None:
            run.finish(status)
    return FitResult(
        run.run_id,
        model_uri,
        local_model,
        detector.threshold_,
        metrics,
        registered,
        None if run.error is None else f"{type(run.error).__name__}: {run.error}",
    )
