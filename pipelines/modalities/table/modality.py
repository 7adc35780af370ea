"""Tables: a CSV, Parquet or ``.npz`` file of rows, numeric and categorical columns with missing values.

The schema is inferred from the training file (:mod:`~pipelines.modalities.table.schema`), the columns preprocessed
(:mod:`~pipelines.modalities.table.preprocessing`) and ``VAEAnomalyDetector`` fitted on the result; the model folder
is a :class:`~pipelines.modalities.table.bundle.ModelBundle`.
Scoring reads the file in chunks, so a table larger than memory is scored in bounded memory.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipelines.modalities.contract import Calibration, Modality, ScoredFile, TrainingData
from pipelines.modalities.table.bundle import ModelBundle

N_SAMPLES = 50
"""Rows drawn from the fitted model into the fit run's ``samples/samples.json`` table (MLflow's table view)."""


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
        raise ValueError(
            f"Label column {label!r} must hold 0 (normal) and 1 (anomaly); found {sorted(map(str, pd.unique(y)))[:5]}."
        )
    return frame, y.astype(int).to_numpy()


def table_detector_params(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` for ``VAEAnomalyDetector`` with the table pipeline's own defaults where unset
    (:data:`~pipelines.detector_options.TABLE_PIPELINE_DEFAULTS`), refusing an image-only or series-only option by
    its flag."""
    from pipelines.detector_options import (
        TABLE_PIPELINE_DEFAULTS,
        flag,
        image_only_parameters,
        series_only_parameters,
    )

    image_only = sorted(k for k in params if k in {p.name for p in image_only_parameters()})
    if image_only:
        raise ValueError(f"{', '.join(flag(k) for k in image_only)} apply to images, not to tables.")
    series_only = sorted(k for k in params if k in {p.name for p in series_only_parameters()})
    if series_only:
        raise ValueError(
            f"{', '.join(flag(k) for k in series_only)} apply to time series (give --time-column or "
            "--window to fit one), not to tables."
        )
    return {**TABLE_PIPELINE_DEFAULTS, **params}


def local_dataset_source(path: str):
    """MLflow's dataset source for a local file, named explicitly: MLflow registers its local-file source
    twice, and resolving a plain path warns that it "can be interpreted in multiple ways"."""
    from mlflow.data.dataset_source_registry import get_registered_sources, resolve_dataset_source

    local = next(s for s in get_registered_sources() if getattr(s, "__name__", None) == "LocalArtifactDatasetSource")
    return resolve_dataset_source(str(Path(path).resolve()), candidate_sources=[local])


class TableModality(Modality):
    name = "table"
    nouns = ("tables", "row", "rows")
    unit = "rows"
    bundle_class = ModelBundle
    spark_scoring = True

    @classmethod
    def claims(cls, settings) -> bool:
        return True  # the registry asks last: what is neither images nor a series is a table

    def build_detector(self, settings):
        from anomaly_vae import VAEAnomalyDetector

        return VAEAnomalyDetector(**table_detector_params(settings.detector_params()))

    def read(self, settings, detector) -> TrainingData:
        from mlflow.data.pandas_dataset import from_pandas

        from pipelines.modalities.table.schema import Schema
        from pipelines.tables import read_table

        frame = read_table(settings.data)
        print(f"Input: a table from {settings.data!r}: {len(frame)} rows, {frame.shape[1]} columns", file=sys.stderr)
        self.schema = Schema.infer(frame, settings.label_column, settings.drop_columns, settings.categorical_columns)
        print(
            "Columns: " + "; ".join(self.schema.describe(frame, settings.categorical_columns is not None)),
            file=sys.stderr,
        )
        _, y = split_label(frame, settings.label_column)
        self.y_train = None
        if detector.use_labels:
            self.train, self.y_train = frame, self._known_anomaly_labels(settings, y)
        else:
            self.train = frame if (y is None or not settings.normal_only) else frame[y == 0]
        if len(self.train) < 2:
            raise ValueError(f"Need at least 2 training rows; {settings.data!r} gives {len(self.train)}.")
        self.eval_frame = self.y_eval = None
        if settings.eval_data:
            self.eval_frame = read_table(settings.eval_data)
            _, self.y_eval = split_label(self.eval_frame, settings.label_column)
        self.categorical_likelihood = settings.categorical_likelihood
        # integer columns recorded as float64, as MLflow advises: a later file may have gaps in them
        record = frame.astype({c: "float64" for c in frame.columns if pd.api.types.is_integer_dtype(frame[c])})
        dataset = from_pandas(
            record,
            source=local_dataset_source(settings.data),
            targets=settings.label_column,
            name=Path(settings.data).name,
        )
        return TrainingData(len(self.train), {f"schema.{k}": str(v) for k, v in self.schema.to_dict().items()}, dataset)

    @staticmethod
    def _known_anomaly_labels(settings, y: np.ndarray | None) -> np.ndarray:
        """The training file's labels for ``--use-labels``, with the count said: the known anomalies train the model,
        the normal rows alone validate and calibrate it."""
        from pipelines.detector_options import flag

        if y is None:
            raise ValueError(
                f"{flag('use_labels')} needs {flag('label_column')}: the column of {settings.data!r} that marks the "
                "known anomalies with 1 (and normal rows with 0)."
            )
        n_known = int(y.sum())
        if n_known == 0:
            raise ValueError(
                f"{flag('use_labels')}: label column {settings.label_column!r} of {settings.data!r} marks no row as "
                "an anomaly (1); drop the option to train on the normal rows alone."
            )
        print(
            f"Known anomalies: {n_known} row(s) with {settings.label_column} = 1 train the model to score them high; "
            f"the {len(y) - n_known} normal row(s) alone choose the epoch and calibrate the threshold",
            file=sys.stderr,
        )
        return y

    def fit(self, detector, callbacks: list):
        from pipelines.modalities.table.preprocessing import build_preprocessor, onehot_groups

        self.conformed = self.schema.conform(self.train)
        normal = self.conformed if self.y_train is None else self.conformed[self.y_train == 0]
        preprocessor = build_preprocessor(self.schema).fit(normal)  # fitted on normal rows, as the network's scaler
        self.Xt = preprocessor.transform(self.conformed)
        if self.categorical_likelihood and self.schema.categorical:
            detector.set_params(categorical_groups=onehot_groups(preprocessor, self.schema))
        detector.fit(self.Xt, self.y_train, callbacks=callbacks)
        return ModelBundle.for_training(self.schema, preprocessor, detector, normal)

    def evaluate(self, bundle):
        """Metrics and plots on the labelled evaluation rows when given, else on the training rows and the held-out
        calibration scores."""
        from sklearn.metrics import average_precision_score, roc_auc_score

        from pipelines.review import interactive, plots

        detector = bundle.detector
        cal = detector.calibration_scores_
        metrics = {
            "n_train_rows": float(len(self.train)),
            "n_known_anomalies": float(0 if self.y_train is None else self.y_train.sum()),
            "n_input_features": float(len(self.schema.columns)),
            "n_model_features": float(self.Xt.shape[1]),
        }
        metrics.update(
            {
                f"val_score_q{int(q * 100)}": float(np.quantile(detector.validation_scores_, q))
                for q in (0.5, 0.9, 0.95, 0.99)
            }
        )
        if self.eval_frame is None:
            per_input = bundle.input_feature_scores(self.Xt)
            return metrics, {
                "score_histogram.png": plots.score_histogram(cal, detector.threshold_, title="Calibration scores"),
                "score_histogram.html": interactive.score_histogram(
                    cal, detector.threshold_, title="Calibration scores"
                ),
                "latent_means.png": plots.latent_view(detector.latent_means(self.Xt), self.y_train),
                "feature_scores.png": plots.feature_score_bars(
                    per_input.mean(), "Mean per-feature score (training rows)"
                ),
            }
        y_eval = self.y_eval
        Xe = bundle.transform(self.eval_frame)
        scores = detector.anomaly_score(Xe)
        figures = {}
        metrics["eval_anomaly_rate"] = float(np.mean(scores > detector.threshold_))
        labelled = y_eval is not None and len(set(y_eval)) == 2
        if labelled:
            metrics.update(
                eval_roc_auc=float(roc_auc_score(y_eval, scores)),
                eval_average_precision=float(average_precision_score(y_eval, scores)),
            )
            figures["roc_pr_curves.png"] = plots.roc_pr_curves(y_eval, scores)
        figures["score_histogram.png"] = plots.score_histogram(
            scores, detector.threshold_, reference=cal, labels=y_eval, title="Evaluation scores"
        )
        figures["score_histogram.html"] = interactive.score_histogram(
            scores, detector.threshold_, reference=cal, labels=y_eval, title="Evaluation scores"
        )
        figures["latent_means.png"] = plots.latent_view(detector.latent_means(Xe), y_eval)
        per_input = bundle.input_feature_scores(Xe)
        if labelled:
            per_input = per_input[y_eval == 1]
        title = "Mean per-feature score" + (" (labelled anomalies)" if labelled else " (evaluation rows)")
        figures["feature_scores.png"] = plots.feature_score_bars(per_input.mean(), title)
        return metrics, figures

    def log_extras(self, run, bundle) -> None:
        import mlflow

        run.call(mlflow.log_table, bundle.sample(N_SAMPLES, random_state=0), artifact_file="samples/samples.json")

    def model_example(self, bundle):
        example = self.schema.conform(self.train.head(5))  # numbers as float64: what the model takes, NaN included
        return bundle.signature(example), example

    def check_score(self, settings) -> None:
        if settings.maps:
            raise ValueError("--maps is for image models; this model scores tables.")

    def score_file(self, settings, bundle) -> ScoredFile:
        """Score a table file in chunks, writing the rows plus the scores atomically. With ``--fdr`` a first pass
        computes every row's p-value for the Benjamini-Hochberg cutoff, and the second flags each chunk by it."""
        from tqdm import tqdm

        from anomaly_vae.decisions.p_values import bh_cutoff
        from pipelines.tables import input_arrow_schema, iter_table, table_format, write_table_atomic

        scores: list[np.ndarray] = []
        flags = 0
        unknown: dict[str, int] = {}
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

        cutoff = None
        if settings.fdr is not None:
            p_values = [
                named(lambda c=chunk: bundle.detector.p_values(bundle.transform(c)))
                for chunk, named in chunks("p-values for --fdr")
            ]
            cutoff = bh_cutoff(np.concatenate(p_values), settings.fdr)
        input_schema = input_arrow_schema(settings.data, bundle.schema.numeric)
        rows = write_table_atomic(
            scored_chunks(cutoff), settings.output, input_schema=input_schema, replace=settings.overwrite
        )
        return ScoredFile(rows, flags, np.concatenate(scores), unknown)

    def spark_columns(self, bundle, sample):
        bundle.schema.conform(sample)  # a missing or wrongly typed column fails with the local engine's message
        return bundle.schema.columns, bundle.schema.numeric

    def calibrate(self, bundle, path: str) -> Calibration:
        from pipelines.tables import read_table

        frame = read_table(path)
        label = bundle.schema.label
        if label and label in frame.columns:
            frame = frame[pd.to_numeric(frame[label], errors="coerce") == 0]
        if len(frame) == 0:
            raise ValueError("no normal rows to calibrate on" + (f" (label {label!r} = 0)" if label else ""))
        bundle.detector.set_threshold(bundle.transform(frame))
        example = bundle.schema.conform(frame.head(5))
        return Calibration(bundle.signature(example), example)

    def write_samples(self, draws, output: Path, overwrite: bool) -> str:
        from pipelines.tables import write_table_atomic

        write_table_atomic((frame for _, frame in draws), output, replace=overwrite)
        return "rows"


def _named(fn, settings, offset: int, n: int):
    try:
        return fn()
    except ValueError as err:
        raise ValueError(
            f"{settings.data!r}, rows {offset}-{offset + n - 1}, model {settings.model_uri!r}: {err}"
        ) from None
