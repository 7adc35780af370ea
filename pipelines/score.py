"""The score pipeline: load a logged model by MLflow URI, score a file in chunks, write the result atomically."""

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


def run_score(settings: ScoreSettings) -> ScoreResult:
    import mlflow

    from anomaly_vae.atomic import remove_stale_temporaries
    from pipelines import plots
    from pipelines.interrupts import terminate_as_interrupt
    from pipelines.image_bundle import ImageBundle
    from pipelines.model_source import load_model
    from pipelines.tracking import SafeRun, fail_fast_http, open_store, tracking_uri

    settings.check()  # flags that cannot work fail before any model is loaded
    fail_fast_http()
    mlflow.set_tracking_uri(tracking_uri(settings.tracking_uri))
    bundle, source = load_model(settings.model_uri)
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
    else:
        if settings.maps:
            raise ValueError("--maps is for image models; this model scores tables.")
        rows, flags, unknown, all_scores = _score_table(settings, bundle)
    result = ScoreResult(Path(settings.output), rows, flags / rows, unknown)
    if unknown:
        print(f"Unseen categories (one-hot all zero; the categorical likelihood scores them as the least likely known category): {unknown}", file=sys.stderr)
    if settings.log_run:
        run = SafeRun()
        run.call(open_store, mlflow.get_tracking_uri())
        run.call(mlflow.set_experiment, settings.experiment)
        active = run.call(mlflow.start_run, run_name=settings.run_name)
        if active is not None:
            run.run_id = active.info.run_id
            run.call(mlflow.set_tag, "anomaly_vae.job", "score")
            run.call(mlflow.log_params, {**source.params(), "data": settings.data, "output": settings.output})
            metrics = {"rows_scored": float(rows), "anomaly_rate": result.anomaly_rate,
                       "threshold": float(bundle.detector.threshold_)}
            metrics.update({f"score_q{int(q * 100)}": float(np.quantile(all_scores, q)) for q in (0.5, 0.9, 0.99)})
            metrics.update({f"unknown_categories.{k}": float(v) for k, v in unknown.items()})
            run.call(mlflow.log_metrics, metrics)
            sample = all_scores if len(all_scores) <= 200_000 else np.random.default_rng(0).choice(all_scores, 200_000)
            fig = plots.score_histogram(sample, bundle.detector.threshold_, reference=bundle.detector.validation_scores_,
                                        title="Scored rows vs training distribution")
            run.call(mlflow.log_figure, fig, "plots/score_histogram.png")
            plots.plt.close("all")
            run.finish()
        result.run_id = run.run_id
        result.tracking_error = None if run.error is None else f"{type(run.error).__name__}: {run.error}"
    return result


def _score_table(settings: ScoreSettings, bundle):
    """Score a table file in chunks, writing the rows plus the scores atomically; rows, flags, unknown
    categories and all scores."""
    from tqdm import tqdm

    from pipelines.interrupts import terminate_as_interrupt
    from pipelines.tables import input_arrow_schema, iter_table, table_format, write_table_atomic

    scores, flags, unknown = [], 0, {}
    typed_numbers = table_format(settings.data) == "csv" and table_format(settings.output) == "parquet"

    def scored_chunks():
        nonlocal flags
        offset = 0
        with tqdm(desc="scoring", unit=" rows", disable=None, file=sys.stderr) as bar:
            for chunk in iter_table(settings.data, settings.chunk_rows, text=True):
                try:
                    result = bundle.score(chunk)
                except ValueError as err:
                    raise ValueError(f"{settings.data!r}, rows {offset}-{offset + len(chunk) - 1}, "
                                     f"model {settings.model_uri!r}: {err}") from None
                for col, n in bundle.unknown_categories(chunk).items():
                    unknown[col] = unknown.get(col, 0) + n
                scores.append(result["anomaly_score"].to_numpy())
                flags += int(result["is_anomaly"].sum())
                bar.update(len(chunk))
                offset += len(chunk)
                if typed_numbers:  # CSV into Parquet: the model's numeric columns as numbers, not text
                    chunk = chunk.assign(**{c: pd.to_numeric(chunk[c]) for c in bundle.schema.numeric})
                clashes = {c: f"{c}_input" for c in result.columns if c in chunk.columns}
                yield pd.concat([chunk.rename(columns=clashes), result], axis=1)

    with terminate_as_interrupt():
        input_schema = input_arrow_schema(settings.data, bundle.schema.numeric)
        rows = write_table_atomic(scored_chunks(), settings.output, input_schema=input_schema)
    return rows, flags, unknown, np.concatenate(scores)


if __name__ == "__main__":
    from pipelines.cli import app

    app(["score", *sys.argv[1:]], prog_name="python -m pipelines.score")
