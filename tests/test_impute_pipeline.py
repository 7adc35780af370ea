"""``anomaly-vae impute``: a table's missing numbers filled by a VAEImputer fitted on it, with its error logged."""

import mlflow
import numpy as np
import pandas as pd
import pytest

from pipelines.demo_data import DATA_DIR
from pipelines.impute import holdout_mask, run_impute
from tests.security.helpers import assert_user_error, cli

TRAIN = DATA_DIR / "transactions_train.csv"
FAST = {"epochs": 3, "hidden_units": (16,), "n_draws": 20}


def test_impute_fills_numbers_keeps_everything_else_and_logs_its_error(tmp_path):
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = tmp_path / "completed.csv"
    result = run_impute(str(TRAIN), str(out), params=FAST, ignore=["label"], tracking_uri=store)
    before, after = pd.read_csv(TRAIN), pd.read_csv(out)
    assert list(after.columns) == list(before.columns) and len(after) == len(before) == result.rows
    numeric = ["amount", "items", "distance_km", "latency_ms", "hour", "discount"]
    assert after[numeric].notna().all().all() and result.imputed == int(before[numeric].isna().sum().sum()) > 0
    observed = before[numeric].notna().to_numpy()
    np.testing.assert_allclose(after[numeric].to_numpy()[observed], before[numeric].to_numpy()[observed], rtol=1e-12)
    for col in ("region", "channel", "label", "items"):  # as read: text, labels, whole numbers stay whole
        pd.testing.assert_series_equal(after[col], before[col])
    assert result.left_missing == {
        "region": int(before["region"].isna().sum()),
        "channel": int(before["channel"].isna().sum()),
    }
    mlflow.set_tracking_uri(store)
    run = mlflow.get_run(result.run_id)
    assert run.data.tags["anomaly_vae.command"] == "impute" and run.data.params["ignored_columns"] == "label"
    assert 0 < run.data.metrics["imputation_rmse"] == pytest.approx(result.rmse)
    assert run.data.metrics["holdout_entries"] > 0.05 * observed.sum()
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(result.run_id, "imputation")}
    assert artifacts == {"imputation/holdout.png", "imputation/per_column.json"}
    again = tmp_path / "again.csv"  # the run's imputer, downloaded and read as data: the same completed table
    loaded = run_impute(
        str(TRAIN), str(again), ignore=["label"], tracking_uri=store, model=f"runs:/{result.run_id}/imputer"
    )
    pd.testing.assert_frame_equal(pd.read_csv(again), after, rtol=1e-6)
    assert mlflow.get_run(loaded.run_id).data.params["model"] == f"runs:/{result.run_id}/imputer"


def test_a_saved_imputer_imputes_another_file_with_the_same_columns(tmp_path):
    folder = tmp_path / "imputer"
    first = run_impute(
        str(TRAIN), str(tmp_path / "a.csv"), params=FAST, ignore=["label"], log_run=False, save_model=str(folder)
    )
    test = DATA_DIR / "transactions_test.csv"
    second = run_impute(str(test), str(tmp_path / "b.csv"), ignore=["label"], log_run=False, model=str(folder))
    assert second.imputed == int(pd.read_csv(test)[first.columns].isna().sum().sum()) > 0
    assert pd.read_csv(tmp_path / "b.csv")[first.columns].notna().all().all()
    with pytest.raises(ValueError, match="imputes the columns"):  # the label is a numeric column the imputer lacks
        run_impute(str(test), str(tmp_path / "c.csv"), log_run=False, model=str(folder))
    with pytest.raises(ValueError, match="already exists"):
        run_impute(
            str(TRAIN), str(tmp_path / "c.csv"), params=FAST, ignore=["label"], log_run=False, save_model=str(folder)
        )
    with pytest.raises(ValueError, match="would only configure a new fit"):
        run_impute(str(test), str(tmp_path / "c.csv"), params=FAST, ignore=["label"], log_run=False, model=str(folder))
    assert not (tmp_path / "c.csv").exists()


def test_whole_number_columns_get_whole_numbers(tmp_path):
    rng = np.random.default_rng(0)
    z = rng.normal(size=300)
    frame = pd.DataFrame({"count": np.round(5 + 3 * z).astype(float), "x": z + 0.1 * rng.normal(size=300)})
    frame.loc[::7, "count"] = np.nan
    data = tmp_path / "in.parquet"
    frame.to_parquet(data)
    result = run_impute(str(data), str(tmp_path / "out.parquet"), params=FAST, log_run=False)
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert result.rounded == ["count"] and out["count"].dtype == np.int64 and out["x"].equals(frame["x"])


def test_holdout_never_takes_a_rows_or_columns_last_entry():
    observed = np.random.default_rng(0).random((200, 5)) < 0.4
    observed[:, 0] = True  # every row has an entry
    hidden = holdout_mask(observed, 0.9, seed=0)
    assert not (hidden & ~observed).any()
    left = observed & ~hidden
    assert left[observed.any(axis=1)].any(axis=1).all() and left.any(axis=0).all()
    assert hidden.sum() > 0.5 * observed.sum()


def test_bad_input_gets_one_error_line(tmp_path):
    frame = pd.DataFrame({"a": [1.0, np.nan, 3.0], "b": [np.nan, np.nan, np.nan], "c": ["x", "y", None]})
    frame.to_csv(tmp_path / "empty_column.csv", index=False)
    result = cli("impute", tmp_path / "empty_column.csv", tmp_path / "out.csv", "--no-log-run", cwd=tmp_path)
    assert_user_error(result, 2, "empty_column.csv", "column 'b' has no observed value")
    assert not (tmp_path / "out.csv").exists()
    result = cli("impute", tmp_path / "empty_column.csv", tmp_path / "out.npz", "--no-log-run", cwd=tmp_path)
    assert_user_error(result, 2, "out.npz", ".csv or .parquet")
