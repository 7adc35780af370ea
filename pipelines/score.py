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


def load_bundle(model_uri: str):
    """The ``ModelBundle`` behind a pyfunc model at any MLflow URI (``runs:/``, ``models:/``, a local path)."""
    import mlflow

    from pipelines.bundle import ModelBundle
    from pipelines.pyfunc_model import AnomalyVAEModel

    local = Path(model_uri)
    if local.is_dir() and (local / "bundle.json").is_file():
        return ModelBundle.load(local)
    model = mlflow.pyfunc.load_model(model_uri)
    python_model = model.unwrap_python_model()
    if not isinstance(python_model, AnomalyVAEModel):
        raise ValueError(f"{model_uri!r} is a {type(python_model).__name__}, not an anomaly-vae model.")
    return python_model.bundle


def run_score(settings: ScoreSettings) -> ScoreResult:
    import mlflow
    from tqdm import tqdm

    from pipelines import plots
    from pipelines.tables import iter_table, table_format, write_table_atomic
    from pipelines.tracking import SafeRun, fail_fast_http, tracking_uri

    table_format(settings.output)  # refuse a bad output name before any work
    fail_fast_http()
    mlflow.set_tracking_uri(tracking_uri(settings.tracking_uri))
    bundle = load_bundle(settings.model_uri)
    scores, flags, unknown = [], 0, {}

    def scored_chunks():
        nonlocal flags
        with tqdm(desc="scoring", unit=" rows", disable=None, file=sys.stderr) as bar:
            for chunk in iter_table(settings.data, settings.chunk_rows):
                result = bundle.score(chunk)
                for col, n in bundle.unknown_categories(chunk).items():
                    unknown[col] = unknown.get(col, 0) + n
                scores.append(result["anomaly_score"].to_numpy())
                flags += int(result["is_anomaly"].sum())
                bar.update(len(chunk))
                clashes = {c: f"{c}_input" for c in result.columns if c in chunk.columns}
                yield pd.concat([chunk.rename(columns=clashes), result], axis=1)

    rows = write_table_atomic(scored_chunks(), settings.output)
    all_scores = np.concatenate(scores)
    result = ScoreResult(Path(settings.output), rows, flags / rows, unknown)
    if unknown:
        print(f"Unseen categories (one-hot all zero; the categorical likelihood scores them as the least likely known category): {unknown}", file=sys.stderr)
    if settings.log_run:
        run = SafeRun()
        run.call(mlflow.set_experiment, settings.experiment)
        active = run.call(mlflow.start_run, run_name=settings.run_name)
        if active is not None:
            run.run_id = active.info.run_id
            run.call(mlflow.set_tag, "anomaly_vae.job", "score")
            run.call(mlflow.log_params, {"model_uri": settings.model_uri, "data": settings.data, "output": settings.output})
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
            run.call(mlflow.end_run)
        result.run_id = run.run_id
        result.tracking_error = None if run.error is None else f"{type(run.error).__name__}: {run.error}"
    return result


if __name__ == "__main__":
    from pipelines.cli import app

    app(["score", *sys.argv[1:]], prog_name="python -m pipelines.score")
