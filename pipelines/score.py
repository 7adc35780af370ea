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
import pandas as pd

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
    from pipelines.image_bundle import ImageBundle
    from pipelines.interrupts import terminate_as_interrupt
    from pipelines.model_source import load_model
    from pipelines.series_bundle import SeriesBundle
    from pipelines.tracking import fail_fast_http, tracking_uri

    settings.check()  # flags that cannot work fail before any model is loaded
    fail_fast_http()
    mlflow.set_tracking_uri(tracking_uri(settings.tracking_uri))
    bundle, source = load_model(settings.model_uri)
    recalibrated = recalibrate(settings, bundle) if settings.recalibrate else None
    for stale in remove_stale_temporaries(settings.output):
        print(f"Removed {stale}, a temporary file left by an earlier scoring run that was killed.", file=sys.stderr)
    if isinstance(bundle, ImageBundle):
        from pipelines.image_files import is_image_input
        from pipelines.score_images import score_images

        if not is_image_input(settings.data):
            raise ValueError(f"{settings.model_uri!r} is an image model; DATA {settings.data!r} must be a folder of "
                             "PNG/JPEG images or an .npz of images.")
        with terminate_as_interrupt():
            table, all_scores = score_images(settings, bundle)
        rows, flags, unknown = len(table), int(table["is_anomaly"].sum()), {}
    elif isinstance(bundle, SeriesBundle):
        if settings.maps:
            raise ValueError("--maps is for image models; this model scores a time series.")
        with terminate_as_interrupt():
            table, all_scores = score_series(settings, bundle)
        rows, flags, unknown = len(table), int(table["is_anomaly"].sum()), {}
    else:
        if settings.maps:
            raise ValueError("--maps is for image models; this model scores tables.")
        rows, flags, unknown, all_scores = _score_table(settings, bundle)
    detector = bundle.detector
    modality = "images" if isinstance(bundle, ImageBundle) else "series" if isinstance(bundle, SeriesBundle) else "table"
    result = ScoreResult(Path(settings.output), rows, flags / rows, unknown)
    if recalibrated is not None:  # saved once the scores are written, so a failed run leaves no model behind
        from pipelines.fit import save_new

        out = Path(settings.output)
        recalibrated.folder = save_new(bundle, out.with_name(f"{out.stem}-recalibrated-model"))
        print(f"Recalibrated model saved locally to {recalibrated.folder}", file=sys.stderr)
    by_threshold = settings.fdr is None
    result.drift = drift_report(all_scores, detector.calibration_scores_, flags,
                                detector.threshold_rule_ if by_threshold else None,
                                detector.target_fpr_ if by_threshold else None)
    print(("warning: " if result.drift.drifted else "") + result.drift.message(), file=sys.stderr)
    if settings.fdr is not None and flags == 0:
        n_cal = len(detector.calibration_scores_)
        needed = int(np.ceil(rows / (settings.fdr * (n_cal + 1)) - 1e-9))  # k rows at p = 1/(n+1) pass k fdr / rows
        if needed > 1:
            print(f"warning: --fdr {settings.fdr:g} flagged nothing. With {n_cal} calibration rows no p-value is below "
                  f"1/{n_cal + 1}, and Benjamini-Hochberg over {rows} rows flags only when at least {needed} rows "
                  "reach it; calibrate on more normal rows (--recalibrate) for finer p-values.", file=sys.stderr)
    if unknown:
        print(f"Unseen categories (one-hot all zero; the categorical likelihood scores them as the least likely known category): {unknown}", file=sys.stderr)
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


def log_score_run(settings: ScoreSettings, source, modality: str, detector, scores: np.ndarray, metrics: dict,
                  engine: str = "local"):
    """Open a score run (named, tagged and linked as :mod:`pipelines.run_identity` says) and log the model source,
    the data, ``metrics`` with the threshold and score quantiles, and the scores' histogram against the calibration
    scores. Returns the :class:`~pipelines.tracking.SafeRun` and the active run (None when tracking failed); the
    caller finishes the run."""
    import mlflow

    from pipelines import interactive, plots, run_identity
    from pipelines.model_description import NOUNS
    from pipelines.tracking import SafeRun, log_metrics_and_plots, open_store

    run = SafeRun()
    run.call(open_store, mlflow.get_tracking_uri())
    experiment = run.call(run_identity.use_experiment, settings.experiment)
    active = run.call(run_identity.start_run, "score", modality, settings.data, settings.run_name, engine=engine,
                      **score_links(source, experiment))
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
    title = f"Scored {NOUNS[modality][1]}s against the calibration scores"
    log_metrics_and_plots(run, {}, {
        "score_histogram.png": plots.score_histogram(scores, detector.threshold_,
                                                     reference=detector.calibration_scores_, title=title),
        "score_histogram.html": interactive.score_histogram(scores, detector.threshold_,
                                                            reference=detector.calibration_scores_, title=title)})
    return run, active


def score_links(source, experiment) -> dict:
    """Tags that link a score run to what it scored with: the model URI, and when MLflow knows them the fit run
    and the registered version; the fit run is the score run's parent (nested under it in the runs list) when it
    lies in the same experiment."""
    import mlflow

    from pipelines.run_identity import PARENT_RUN_TAG

    links = {"model_uri": source.uri, "fit_run_id": source.run_id,
             "model_version": f"{source.name}/{source.version}" if source.version else None}
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


def recalibrate(settings: ScoreSettings, bundle) -> Recalibrated:
    """Re-fit ``bundle``'s threshold on the normal rows (or images) of ``settings.recalibrate`` with the model's
    rule and target (``run_score`` saves it beside the output once the scores are written, never replacing a
    model there)."""
    from pipelines import calibration_report
    from pipelines.image_bundle import ImageBundle
    from pipelines.series_bundle import SeriesBundle

    path = settings.recalibrate
    detector = bundle.detector
    try:
        if isinstance(bundle, ImageBundle):
            from pipelines.image_files import read_images

            found = read_images(path)
            images = found.images if found.labels is None else found.images[found.labels == 0]
            detector.set_threshold(images)
            signature, example, what = bundle.signature(), bundle.input_example(images[0]), "images"
        elif isinstance(bundle, SeriesBundle):  # a normal stretch: every point of it calibrates
            from pipelines.tables import read_table

            frame = bundle.series(read_table(path))
            detector.set_threshold(frame)
            example = frame.head(detector.window)
            signature, what = bundle.signature(example), "time points"
        else:
            from pipelines.tables import read_table

            frame = read_table(path)
            label = bundle.schema.label
            if label and label in frame.columns:
                frame = frame[pd.to_numeric(frame[label], errors="coerce") == 0]
            if len(frame) == 0:
                raise ValueError("no normal rows to calibrate on" + (f" (label {label!r} = 0)" if label else ""))
            detector.set_threshold(bundle.transform(frame))
            example = bundle.schema.conform(frame.head(5))
            signature, what = bundle.signature(example), "rows"
    except ValueError as err:
        raise ValueError(f"--recalibrate {path!r}: {err}") from None
    print(calibration_report.describe(detector, what, source=path), file=sys.stderr)
    return Recalibrated(None, signature, example)


def _log_recalibrated(run, result: ScoreResult, recalibrated: Recalibrated, source) -> None:
    """Log the recalibrated model in the score run; a registered model gets it as its next version."""
    from types import SimpleNamespace

    from pipelines.tracking import log_bundle_model

    target = SimpleNamespace(register=source.name, alias=None)
    result.recalibrated_uri, version = log_bundle_model(
        run, recalibrated.folder, recalibrated.signature, recalibrated.input_example, target)
    if version:
        result.registered = f"models:/{source.name}/{version}"


def score_series(settings: ScoreSettings, bundle) -> tuple[pd.DataFrame, np.ndarray]:
    """Score the series in ``settings.data`` (the whole file: windows cross any chunk boundary) with a
    ``SeriesBundle``; write its rows plus the score columns, one per time point, atomically."""
    from anomaly_vae.decisions.p_values import bh_cutoff, conformal_p_values
    from pipelines.bundle import score_columns
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
    return table, scores


def _score_table(settings: ScoreSettings, bundle):
    """Score a table file in chunks, writing the rows plus the scores atomically; rows, flags, unknown
    categories and all scores. With ``--fdr`` a first pass computes every row's p-value for the
    Benjamini-Hochberg cutoff, and the second flags each chunk by it."""
    from tqdm import tqdm

    from anomaly_vae.decisions.p_values import bh_cutoff
    from pipelines.interrupts import terminate_as_interrupt
    from pipelines.tables import input_arrow_schema, iter_table, table_format, write_table_atomic

    scores, flags, unknown = [], 0, {}
    typed_numbers = table_format(settings.data) == "csv" and table_format(settings.output) == "parquet"

    def chunks(desc: str):
        """(chunk, what the model does with it) per chunk, a failure named by file, rows and model."""
        offset = 0
        with tqdm(desc=desc, unit=" rows", disable=None, file=sys.stderr) as bar:
            for chunk in iter_table(settings.data, settings.chunk_rows, text=True):
                yield chunk, lambda fn, o=offset, n=len(chunk): _named(fn, settings, o, n)  # noqa: B008 (binds now)
                bar.update(len(chunk))
                offset += len(chunk)

    def scored_chunks(cutoff: float | None):
        nonlocal flags
        for chunk, named in chunks("scoring"):
            result = named(lambda c=chunk: bundle.score(c, p_cutoff=cutoff))
            for col, n in bundle.unknown_categories(chunk).items():
                unknown[col] = unknown.get(col, 0) + n
            scores.append(result["anomaly_score"].to_numpy())
            flags += int(result["is_anomaly"].sum())
            if typed_numbers:  # CSV into Parquet: the model's numeric columns as numbers, not text
                chunk = chunk.assign(**{c: pd.to_numeric(chunk[c]) for c in bundle.schema.numeric})
            clashes = {c: f"{c}_input" for c in result.columns if c in chunk.columns}
            yield pd.concat([chunk.rename(columns=clashes), result], axis=1)

    with terminate_as_interrupt():
        cutoff = None
        if settings.fdr is not None:
            p_values = [named(lambda c=chunk: bundle.detector.p_values(bundle.transform(c)))
                        for chunk, named in chunks("p-values for --fdr")]
            cutoff = bh_cutoff(np.concatenate(p_values), settings.fdr)
        input_schema = input_arrow_schema(settings.data, bundle.schema.numeric)
        rows = write_table_atomic(scored_chunks(cutoff), settings.output, input_schema=input_schema,
                                  replace=settings.overwrite)
    return rows, flags, unknown, np.concatenate(scores)


def _named(fn, settings: ScoreSettings, offset: int, n: int):
    try:
        return fn()
    except ValueError as err:
        raise ValueError(f"{settings.data!r}, rows {offset}-{offset + n - 1}, model {settings.model_uri!r}: {err}") from None


if __name__ == "__main__":
    from pipelines.cli import app

    app(["score", *sys.argv[1:]], prog_name="python -m pipelines.score")
