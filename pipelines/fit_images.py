"""The fit pipeline for images: read an image folder or array, fit ``VAEImageDetector``, set the threshold, log
the run, its review plots and one pyfunc model to MLflow (the tables' pipeline: ``fit.py``, which calls this
when the input is images).

Evaluation images: the ``test/`` part of an MVTec-style folder, else ``--eval-data`` (a folder or a labelled
``.npz``); without either, the plots show the training images. A labelled training ``.npz`` trains on its
normal images only (``--normal-only``, the default).
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np

N_SHOWN = 8
"""Images in the reconstruction grid and in the anomaly-map overlays."""
N_SAMPLES = 16
"""Images in the fit run's grid of samples."""
MODALITY = "images"
"""This pipeline's modality, as run names and tags show it (:mod:`pipelines.run_identity`)."""


def image_detector_params(settings) -> dict:
    """The detector options that were set, for ``VAEImageDetector``; a table-only option is refused by name."""
    from anomaly_vae import VAEImageDetector
    from pipelines.settings import flag

    params = settings.detector_params()
    allowed = set(VAEImageDetector().get_params())
    from pipelines.detector_options import series_only_parameters

    series_only = sorted(k for k in params if k in {p.name for p in series_only_parameters()})
    if series_only:
        raise ValueError(f"{', '.join(flag(k) for k in series_only)} apply to time series, not to images.")
    table_only = sorted(k for k in params if k not in allowed)
    if table_only:
        raise ValueError(f"{', '.join(flag(k) for k in table_only)} apply to tables, not to images.")
    return params


def describe(images: np.ndarray, where: str, layout: str) -> str:
    n, h, w, c = images.shape
    return f"Input: images ({layout}) from {where!r}: {n} images of {h} x {w} with {c} channel(s)"


def run_image_fit(settings):
    import mlflow
    from sklearn.metrics import average_precision_score, roc_auc_score

    from anomaly_vae import VAEImageDetector
    from pipelines import calibration_report, image_plots, interactive, plots
    from pipelines.fit import FitResult, save_new
    from pipelines.image_bundle import ImageBundle
    from pipelines.image_files import read_images
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
        raise ValueError("--resume and --checkpoint-dir are not available for images yet; fit again instead.")
    params = image_detector_params(settings)
    data = Path(settings.data)
    mvtec = data.is_dir() and (data / "train" / "good").is_dir()
    layout = "MVTec layout: train/good to fit, test/<kind> to evaluate" if mvtec else (
        "a folder" if data.is_dir() else "an .npz array")
    train = read_images(data, "train")
    if train.labels is not None and settings.normal_only:
        train.images = train.images[train.labels == 0]
    print(describe(train.images, settings.data, layout), file=sys.stderr)
    if len(train.images) < 2:
        raise ValueError(f"Need at least 2 normal training images; {settings.data!r} gives {len(train.images)}.")
    evaluation = read_images(data, "test") if mvtec else (read_images(settings.eval_data) if settings.eval_data else None)

    detector = VAEImageDetector(**params)
    run, active, run_name = start_fit_run(settings, MODALITY)
    local_model = Path(settings.output_dir) / run_name / "model"
    status, metrics, model_uri, registered = "FAILED", {}, None, None
    try:
        run.call(mlflow.log_params, {**{k: str(v) for k, v in asdict(settings).items() if k != "resume"},
                                     **environment_params(), "image_shape": str(train.images.shape[1:]),
                                     "n_train_images": str(len(train.images))})
        stop = StopOnSignal()
        try:
            detector.fit(train.images, callbacks=[MLflowEpochLogger(run), stop])
        finally:
            stop.on_train_end()
        print(calibration_report.describe(detector, "images"), file=sys.stderr)
        bundle = ImageBundle(detector)
        local_model = save_new(bundle, local_model)
        print(f"Model saved locally to {local_model}", file=sys.stderr)

        metrics = {"n_epochs": float(detector.n_epochs_), "n_train_images": float(len(train.images)),
                   **calibration_report.metrics(detector)}
        figures = {"training_curves.png": plots.training_curves(detector.history_,
                                                                detector.training_plan_["epoch_kept"]),
                   **calibration_report.figures(detector, "images")}
        shown = evaluation if evaluation is not None else train
        scores, maps = bundle.score_images(shown.images)
        labels = shown.labels if evaluation is not None else None
        if labels is not None and len(set(labels)) == 2:
            metrics.update(eval_roc_auc=float(roc_auc_score(labels, scores)),
                           eval_average_precision=float(average_precision_score(labels, scores)))
            figures["roc_pr_curves.png"] = plots.roc_pr_curves(labels, scores)
        if evaluation is not None:
            metrics["eval_anomaly_rate"] = float(np.mean(scores > detector.threshold_))
        title = "Evaluation scores" if evaluation is not None else "Training images' scores"
        figures["score_histogram.png"] = plots.score_histogram(
            scores, detector.threshold_, reference=detector.calibration_scores_, labels=labels, title=title)
        figures["score_histogram.html"] = interactive.score_histogram(
            scores, detector.threshold_, reference=detector.calibration_scores_, labels=labels, title=title)
        first = np.arange(min(N_SHOWN, len(shown.images)))
        figures["reconstructions.png"] = image_plots.reconstruction_grid(
            shown.images[first], detector.reconstruct(shown.images[first]), [shown.paths[i] for i in first])
        worst = np.argsort(-scores)[:N_SHOWN]
        figures["samples.png"] = image_plots.sample_grid(
            detector.sample(N_SAMPLES, random_state=0, noise=False), title="Samples: latent codes drawn where the "
            "training images' codes lie, decoded (the decoder's mean)")
        normal = int(np.argmin(scores))  # from the most normal image to the most anomalous
        a, b = shown.images[normal], shown.images[worst[0]]
        figures["interpolation.png"] = image_plots.interpolation_strip(
            detector.interpolate(a, b, n_steps=8), a, b, f"{shown.paths[normal]} (most normal)",
            f"{shown.paths[worst[0]]} (most anomalous)")
        figures["anomaly_maps.png"] = image_plots.anomaly_map_overlays(
            shown.images[worst], maps[worst], scores[worst], detector.threshold_, [shown.paths[i] for i in worst])
        log_metrics_and_plots(run, metrics, figures)
        description = log_fit_record(run, detector, MODALITY, settings, metrics)
        if run.error is None:
            model_uri, registered = log_bundle_model(run, local_model, bundle.signature(),
                                                     bundle.input_example(train.images[0]), settings, description)
        status = "FINISHED" if run.error is None else "FAILED"
    except KeyboardInterrupt:
        status = "KILLED"
        from pipelines.fit import TrainingInterrupted

        raise TrainingInterrupted("Training interrupted; image fits keep no checkpoint, so nothing was saved.") from None
    finally:
        if active is not None:
            run.finish(status)
    return FitResult(run.run_id, model_uri, local_model, detector.threshold_, metrics, registered,
                     None if run.error is None else f"{type(run.error).__name__}: {run.error}")
