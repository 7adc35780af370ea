"""``anomaly-vae score --engine spark``: batch scoring on Spark through MLflow's ``spark_udf``.

The model is checked on the driver first, exactly as the single-process ``score`` does it
(:func:`pipelines.model_source.load_model`: ``MLmodel`` read as data, the bundle loaded without running
code), because ``spark_udf`` itself loads the model with ``mlflow.pyfunc.load_model`` on every executor.
A sample of the input is conformed to the model's schema on the driver, so a missing or wrongly typed column
fails before the job starts, with the single-process message. The executors then score with the pyfunc
model (``env_manager="local"``: this Python), and the result, the input columns plus ``anomaly_score``,
``p_value``, ``is_anomaly`` and ``top_features``, is written as Parquet parts into a new folder, moved into place at the end.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pipelines.settings import ScoreSettings

RESULT_TYPE = "anomaly_score double, p_value double, is_anomaly boolean, top_features string"
CHECK_ROWS = 10_000
"""Rows of the input conformed to the model's schema on the driver before the job starts."""


@dataclass
class SparkScoreResult:
    output: Path
    rows: int
    anomaly_rate: float
    run_id: str | None = None
    tracking_error: str | None = None


def spark_session(master: str):
    """A Spark session on ``master`` whose Python workers run this interpreter."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.master(master)
        .appName("anomaly-vae score")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )


def read_input(spark, path: str):
    """CSV (header, every column as text, as the single-process ``score`` reads it) or Parquet, file or folder."""
    from pipelines.tables import TableError

    p = Path(path)
    if not p.exists():
        raise TableError(f"No such file or folder: {path!r}.")
    parquet = p.suffix.lower() in (".parquet", ".pq") or (p.is_dir() and any(p.glob("*.parquet")))
    if parquet:
        return spark.read.parquet(str(p))
    if p.suffix.lower() == ".csv" or (p.is_dir() and any(p.glob("*.csv"))):
        return spark.read.csv(str(p), header=True, inferSchema=False, encoding="UTF-8")
    raise TableError(f"{path!r}: the Spark engine reads .csv or .parquet files, or folders of them.")


def check_output(settings: ScoreSettings) -> Path:
    out = Path(settings.output)
    if out.suffix.lower() != ".parquet":
        raise ValueError(
            f"OUTPUT {settings.output!r}: the Spark engine writes a folder of Parquet parts; "
            "name it like scores.parquet."
        )
    if out.exists():
        raise ValueError(f"OUTPUT {settings.output!r} already exists; the Spark engine writes a new folder.")
    return out


def task_error(err: BaseException) -> str:
    """The Python exception line inside a Spark job failure (say, a row the model cannot score), else its first line."""
    lines = [line.strip() for line in str(err).splitlines()]
    python = [line for line in lines if line.startswith(("ValueError:", "TypeError:", "KeyError:"))]
    return python[-1] if python else (lines[0] if lines else type(err).__name__)


def run_spark_score(settings: ScoreSettings) -> SparkScoreResult:
    import keras
    import mlflow
    from pyspark.sql import functions as F

    from pipelines import modalities
    from pipelines.model_source import is_uri, load_model
    from pipelines.tracking.mlflow_runs import fail_fast_http, tracking_uri

    settings.check_engine()
    if settings.chunk_rows < 1:
        raise ValueError(f"--chunk-rows must be a positive number of rows; got {settings.chunk_rows}.")
    out = check_output(settings)
    fail_fast_http()
    mlflow.set_tracking_uri(tracking_uri(settings.tracking_uri))
    if not is_uri(settings.model_uri) and not (Path(settings.model_uri) / "MLmodel").is_file():
        raise ValueError(
            f"{settings.model_uri!r}: the Spark engine scores MLflow models (runs:/..., models:/..., "
            "or a folder with an MLmodel file), not a bare model bundle."
        )
    bundle, source = load_model(settings.model_uri)  # refuses anything that is not ours, before Spark loads it
    modality = modalities.for_bundle(bundle)
    if not modality.spark_scoring:
        raise ValueError(
            f"{settings.model_uri!r} is a model of {modality.nouns[0]}; --engine spark scores tables only "
            "so far (rows scored independently). Score it with the default --engine local."
        )
    model_uri = f"models:/{source.name}/{source.version}" if source.version else settings.model_uri
    spark = spark_session(settings.spark_master)
    frame = read_input(spark, settings.data)
    sample = frame.limit(CHECK_ROWS).toPandas()
    try:
        model_columns, numeric = modality.spark_columns(bundle, sample)
    except ValueError as err:
        raise ValueError(f"{settings.data!r}: {err}") from None
    env = {
        "KERAS_BACKEND": keras.backend.backend(),
        "MLFLOW_TRACKING_URI": mlflow.get_tracking_uri(),
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH")) if p
        ),
    }
    udf = mlflow.pyfunc.spark_udf(spark, model_uri, env_manager="local", result_type=RESULT_TYPE, extra_env=env)
    scored = frame.withColumn("_scores", udf(*[F.col(f"`{c}`") for c in model_columns]))
    score_names = [f.split()[0] for f in RESULT_TYPE.split(", ")]
    text = dict(frame.dtypes)
    # as the local engine writes CSV into Parquet: the model's numeric columns as numbers (the model has read each
    # of them as a number, or the job failed), every other column as it came; a clashing name gets "_input"
    inputs = [
        (F.col(f"`{c}`").cast("double") if c in numeric and text[c] == "string" else F.col(f"`{c}`")).alias(
            f"{c}_input" if c in score_names else c
        )
        for c in frame.columns
    ]
    scored = scored.select(*inputs, "_scores.*")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}-"))
    try:
        scored.write.mode("overwrite").parquet(str(tmp))
        os.rename(tmp, out)
    except BaseException as err:
        shutil.rmtree(tmp, ignore_errors=True)
        if type(err).__module__.startswith(("pyspark", "py4j")):  # a task failed: name the Python error behind it
            raise ValueError(
                f"{settings.data!r}, model {settings.model_uri!r}: a Spark task failed: {task_error(err)}"
            ) from None
        raise
    written = spark.read.parquet(str(out))
    counts = written.agg(F.count("*").alias("n"), F.sum(F.col("is_anomaly").cast("int")).alias("k")).collect()[0]
    result = SparkScoreResult(out, int(counts["n"]), (counts["k"] or 0) / max(int(counts["n"]), 1))
    if settings.log_run:
        result.run_id, result.tracking_error = log_spark_run(settings, source, modality, bundle, written, result)
    return result


def log_spark_run(settings: ScoreSettings, source, modality, bundle, written, result: SparkScoreResult):
    """The same score run as local scoring logs (:func:`pipelines.score.log_score_run`), its quantiles and histogram
    from a random subset of at most ``MAX_PLOTTED_SCORES`` scores. Returns the run id and the tracking error."""
    from pipelines.score import MAX_PLOTTED_SCORES, log_score_run

    fraction = min(1.0, MAX_PLOTTED_SCORES / max(result.rows, 1))
    scores = written.select("anomaly_score").sample(fraction=fraction, seed=0).toPandas()["anomaly_score"].to_numpy()
    metrics = {"rows_scored": float(result.rows), "anomaly_rate": result.anomaly_rate}
    run, active = log_score_run(
        settings, source, modality, bundle.detector, scores.astype(float), metrics, engine="spark"
    )
    if active is not None:
        run.finish("FINISHED" if run.error is None else "FAILED")
    return run.run_id, None if run.error is None else f"{type(run.error).__name__}: {run.error}"
