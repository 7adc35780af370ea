"""The score pipeline: load a logged model by MLflow URI, score a file in chunks, write the result atomically.

Each row gets its ``anomaly_score``, its conformal ``p_value`` against the model's calibration scores and
``is_anomaly`` (by the model's threshold, or with ``--fdr`` by Benjamini-Hochberg over the whole file). Each
run compares its scores with the calibration scores (:mod:`anomaly_vae.decisions.drift`), and ``--recalibrate NORMAL``
re-fits the threshold on fresh normal rows first, without retraining, and logs the result as a new model.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipelines.settings import ScoreSettings


@dataclass
class ScoreResult:
    output: Path
    rows: int
    anomaly_rate: float
    unknown_categories: dict
    run_id: str | None = None
    tracking_error: str | None = None
    drift: object | None = None  # anomaly_vae.decisions.drift.DriftReport
    recalibrated_model: Path | None = None
    recalibrated_uri: str | None = None
    registered: str | None = None  # models:/NAME/VERSION of a recalibrated registered model


def run_score(settings: ScoreSettings) -> ScoreResult:
    import mlflow

    from anomaly_vae.decisions.drift import drift_report
    from anomaly_vae.persistence.atomic import remove_stale_temporaries
    from pipelines import modalities
    from pipelines.interrupts import terminate_as_interrupt
    from pipelines.model_source import load_model
    from pipelines.tracking.mlflow_runs import fail_fast_http, tracking_uri

    settings.check()  # flags that cannot work fail before any model is loaded
    fail_fast_http()
    mlflow.set_tracking_uri(tracking_uri(settings.tracking_uri))
    bundle, source = load_model(settings.model_uri)
    modality = modalities.for_bundle(bundle)
    modality.check_score(settings)
    recalibrated = recalibrate(settings, bundle, modality) if settings.recalibrate else None
    for stale in remove_stale_temporaries(settings.output):
        print(f"Removed {stale}, a temporary file left by an earlier scoring run that was killed.", file=sys.stderr)
    with terminate_as_interrupt():
        scored = modality.score_file(settings, bundle)
    rows, flags, unknown, all_scores = scored.count, scored.flags, scored.unknown_categories, scored.scores
    detector = bundle.detector
    result = ScoreResult(Path(settings.output), rows, flags / rows, unknown)
    if recalibrated is not None:  # saved once the scores are written, so a failed run leaves no model behind
        from pipelines.fit import save_new

        out = Path(settings.output)
        recalibrated.folder = save_new(bundle, out.with_name(f"{out.stem}-recalibrated-model"))
        print(f"Recalibrated model saved locally to {recalibrated.folder}", file=sys.stderr)
    by_threshold = settings.fdr is None
    result.drift = drift_report(
        all_scores,
        detector.calibration_scores_,
        flags,
        detector.threshold_rule_ if by_threshold else None,
        detector.target_fpr_ if by_threshold else None,
    )
    print(("warning: " if result.drift.drifted else "") + result.drift.message(), file=sys.stderr)
    if settings.fdr is not None and flags == 0:
        n_cal = len(detector.calibration_scores_)
        needed = int(np.ceil(rows / (settings.fdr * (n_cal + 1)) - 1e-9))  # k rows at p = 1/(n+1) pass k fdr / rows
        if needed > 1:
            print(
                f"warning: --fdr {settings.fdr:g} flagged nothing. With {n_cal} calibration rows no p-value is below "
                f"1/{n_cal + 1}, and Benjamini-Hochberg over {rows} rows flags only when at least {needed} rows "
                "reach it; calibrate on more normal rows (--recalibrate) for finer p-values.",
                file=sys.stderr,
            )
    if unknown:
        print(
            f"Unseen categories (one-hot all zero; the categorical likelihood scores them as the least likely known category): {unknown}",
            file=sys.stderr,
        )
    if settings.log_run:
        metrics = {"rows_scored": float(rows), "anomaly_rate": result.anomaly_rate, **result.drift.metrics()}
        metrics.update({f"unknown_categories.{k}": float(v) for k, v in unknown.items()})
        if recalibrated is not None:
            metrics["n_calibration_rows"] = float(len(detector.calibration_scores_))
        run, active = log_score_run(settings, source, modality, detector, all_scores, metrics)
        if active is not None:
            if recalibrated is not None and run.error is None:
                _log_recalibrated(run, result, recalibrated, source)
            run.finish("FINISHED" if run.error is None else "FAILED")
        result.run_id = run.run_id
        result.tracking_error = None if run.error is None else f"{type(run.error).__name__}: {run.error}"
    if recalibrated is not None:
        result.recalibrated_model = recalibrated.folder
    return result


MAX_PLOTTED_SCORES = 200_000
"""The most scores drawn in a score run's histogram (a random subset beyond that)."""


def log_score_run(
    settings: ScoreSettings, source, modality, detector, scores: np.ndarray, metrics: dict, engine: str = "local"
):
    """Open a score run (named, tagged and linked as :mod:`pipelines.tracking.run_identity` says) and log the model source,
    the data, ``metrics`` with the threshold and score quantiles, and the scores' histogram against the calibration
    scores. Returns the :class:`~pipelines.tracking.mlflow_runs.SafeRun` and the active run (None when tracking failed); the
    caller finishes the run."""
    import mlflow

    from pipelines.review import interactive, plots
    from pipelines.tracking import run_identity
    from pipelines.tracking.mlflow_runs import SafeRun, log_metrics_and_plots, open_store

    run = SafeRun()
    run.call(open_store, mlflow.get_tracking_uri())
    experiment = run.call(run_identity.use_experiment, settings.experiment)
    active = run.call(
        run_identity.start_run,
        "score",
        modality.name,
        settings.data,
        settings.run_name,
        engine=engine,
        **score_links(source, experiment),
    )
    if active is None:
        return run, None
    run.run_id = active.info.run_id
    params = {**source.params(), "data": settings.data, "output": settings.output, "engine": engine}
    params.update({k: str(getattr(settings, k)) for k in ("fdr", "recalibrate") if getattr(settings, k) is not None})
    run.call(mlflow.log_params, params)
    metrics = dict(metrics)
    if np.isfinite(detector.threshold_):
        metrics["threshold"] = float(detector.threshold_)
    metrics.update({f"score_q{int(q * 100)}": float(np.quantile(scores, q)) for q in (0.5, 0.9, 0.99)})
    run.call(mlflow.log_metrics, metrics)
    if len(scores) > MAX_PLOTTED_SCORES:
        scores = np.random.default_rng(0).choice(scores, MAX_PLOTTED_SCORES)
    title = f"Scored {modality.nouns[1]}s against the calibration scores"
    log_metrics_and_plots(
        run,
        {},
        {
            "score_histogram.png": plots.score_histogram(
                scores, detector.threshold_, reference=detector.calibration_scores_, title=title
            ),
            "score_histogram.html": interactive.score_histogram(
                scores, detector.threshold_, reference=detector.calibration_scores_, title=title
            ),
        },
    )
    return run, active


def score_links(source, experiment) -> dict:
    """Tags that link a score run to what it scored with: the model URI, and when MLflow knows them the fit run
    and the registered version; the fit run is the score run's parent (nested under it in the runs list) when it
    lies in the same experiment."""
    import mlflow

    from pipelines.tracking.run_identity import PARENT_RUN_TAG

    links = {
        "model_uri": source.uri,
        "fit_run_id": source.run_id,
        "model_version": f"{source.name}/{source.version}" if source.version else None,
    }
    if source.run_id and experiment is not None:
        try:
            same = mlflow.MlflowClient().get_run(source.run_id).info.experiment_id == experiment.experiment_id
        except Exception:  # the fit run was deleted, or lives in another store
            same = False
        if same:
            links[PARENT_RUN_TAG] = source.run_id
    return links


@dataclass
class Recalibrated:
    folder: Path | None  # set when saved
    signature: object
    input_example: object


def recalibrate(settings: ScoreSettings, bundle, modality) -> Recalibrated:
    """Re-fit ``bundle``'s threshold on the normal examples of ``settings.recalibrate`` with the model's rule and
    target (``run_score`` saves it beside the output once the scores are written, never replacing a model there)."""
    from pipelines.review import calibration_report

    path = settings.recalibrate
    try:
        calibration = modality.calibrate(bundle, path)
    except ValueError as err:
        raise ValueError(f"--recalibrate {path!r}: {err}") from None
    print(calibration_report.describe(bundle.detector, modality.unit, source=path), file=sys.stderr)
    return Recalibrated(None, calibration.signature, calibration.input_example)


def _log_recalibrated(run, result: ScoreResult, recalibrated: Recalibrated, source) -> None:
    """Log the recalibrated model in the score run; a registered model gets it as its next version."""
    from types import SimpleNamespace

    from pipelines.tracking.mlflow_runs import log_bundle_model

    target = SimpleNamespace(register=source.name, alias=None)
    result.recalibrated_uri, version = log_bundle_model(
        run, recalibrated.folder, recalibrated.signature, recalibrated.input_example, target
    )
    if version:
        result.registered = f"models:/{source.name}/{version}"
