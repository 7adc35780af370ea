"""``anomaly-vae score --engine spark``: a real Spark in local mode scores as the single process does."""

import numpy as np
import pandas as pd
import pytest

from pipelines.demo_data import DATA_DIR
from tests.security.helpers import assert_user_error, cli

pytestmark = pytest.mark.slow
TRAIN, TEST = DATA_DIR / "transactions_train.csv", DATA_DIR / "transactions_test.csv"


@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    import mlflow

    from pipelines.fit import run_fit
    from pipelines.settings import FitSettings

    tmp = tmp_path_factory.mktemp("spark")
    store = f"sqlite:///{tmp / 'mlflow.db'}"
    mlflow.MlflowClient(store).create_experiment("spark", artifact_location=str(tmp / "artifacts"))
    fitted = run_fit(
        FitSettings(
            data=str(TRAIN),
            label_column="label",
            epochs=2,
            verbose=0,
            tracking_uri=store,
            experiment="spark",
            output_dir=str(tmp / "out"),
            register="sparky",
            alias="live",
        )
    )
    assert fitted.tracking_error is None
    return store, tmp


def test_spark_scores_equal_the_single_process_row_for_row(registered):
    store, tmp = registered
    rows = pd.read_csv(TEST).iloc[np.random.default_rng(0).integers(0, 1000, 20_000)].reset_index(drop=True)
    rows.insert(0, "row_id", np.arange(len(rows)))
    data = tmp / "rows.csv"
    rows.to_csv(data, index=False)
    local = cli(
        "score", "models:/sparky@live", data, tmp / "local.csv", "--tracking-uri", store, "--no-log-run", cwd=tmp
    )
    assert local.returncode == 0, local.stderr[-3000:]
    spark = cli(
        "score",
        "models:/sparky@live",
        data,
        tmp / "spark.parquet",
        "--engine",
        "spark",
        "--spark-master",
        "local[2]",
        "--tracking-uri",
        store,
        cwd=tmp,
        timeout=600,
    )
    assert spark.returncode == 0, spark.stderr[-3000:]
    expected = pd.read_csv(tmp / "local.csv").sort_values("row_id").reset_index(drop=True)
    got = pd.read_parquet(tmp / "spark.parquet").astype({"row_id": int}).sort_values("row_id").reset_index(drop=True)
    assert len(got) == len(expected) == 20_000
    np.testing.assert_allclose(got["anomaly_score"], expected["anomaly_score"], rtol=1e-6, atol=1e-6)
    assert got["is_anomaly"].tolist() == expected["is_anomaly"].tolist()
    assert got["top_features"].tolist() == expected["top_features"].tolist()
    for column in ("amount", "items", "distance_km"):  # the model's numeric columns: numbers, as `score` writes them
        assert got[column].dtype == np.float64, column
        np.testing.assert_array_equal(got[column], expected[column])
    import mlflow  # the Spark engine logs a score run as local scoring does

    run_id = next(line.split(": ")[1] for line in spark.stdout.splitlines() if line.startswith("run id:"))
    run = mlflow.MlflowClient(store).get_run(run_id)
    assert run.info.run_name == "score · table · rows.csv" and run.data.tags["anomaly_vae.engine"] == "spark"
    assert run.data.metrics["rows_scored"] == 20_000
    assert run.data.metrics["anomaly_rate"] == pytest.approx(expected["is_anomaly"].mean())
    assert run.data.params["model_version"] == "1"


def test_a_missing_column_is_caught_on_the_driver_with_the_single_process_message(registered):
    store, tmp = registered
    bad = tmp / "bad.csv"
    pd.read_csv(TEST).drop(columns=["amount"]).to_csv(bad, index=False)
    out = cli(
        "score",
        "models:/sparky@live",
        bad,
        tmp / "never.parquet",
        "--engine",
        "spark",
        "--spark-master",
        "local[2]",
        "--tracking-uri",
        store,
        cwd=tmp,
        timeout=600,
    )
    assert_user_error(out, 2, "Missing column(s) ['amount']")
    assert not (tmp / "never.parquet").exists()


def test_a_wrongly_typed_column_is_caught_on_the_driver_with_the_single_process_message(registered):
    store, tmp = registered
    rows = pd.read_csv(TEST)
    rows["amount"] = rows["amount"].astype(str)
    rows.loc[5, "amount"] = "abc"
    rows.to_parquet(tmp / "typed.parquet", index=False)
    out = cli(
        "score",
        "models:/sparky@live",
        tmp / "typed.parquet",
        tmp / "never2.parquet",
        "--engine",
        "spark",
        "--spark-master",
        "local[2]",
        "--tracking-uri",
        store,
        cwd=tmp,
        timeout=600,
    )
    assert_user_error(out, 2, "Column 'amount' should be numeric but row 5 holds 'abc'")
    assert not (tmp / "never2.parquet").exists()
