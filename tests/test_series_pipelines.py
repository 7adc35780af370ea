"""The fit and score pipelines on a time series in a CSV file, against a real local MLflow store and the logged pyfunc
model: one score per time point, a reviewable run, and one-line errors for a broken series."""

import os
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from pipelines.fit import run_fit
from pipelines.modalities.series.bundle import SeriesBundle
from pipelines.score import run_score
from pipelines.settings import FitSettings, ScoreSettings

# The pipelines add no maths of their own: the detector is tested on every backend (test_series_detector.py)
ROOT = Path(__file__).resolve().parents[1]
SMALL = dict(window=16, epochs=4, hidden_units=[16], latent_dim=4, n_samples=4, verbose=0)


def _series(n, seed, spike=None):
    t = np.arange(n)
    values = np.sin(2 * np.pi * t / 20) + 0.05 * np.random.default_rng(seed).normal(size=n)
    labels = np.zeros(n, dtype=int)
    if spike is not None:
        values[spike : spike + 3] += 5.0
        labels[spike : spike + 3] = 1
    return pd.DataFrame(
        {
            "timestamp": pd.date_range("2026-03-01", periods=n, freq="min").strftime("%Y-%m-%d %H:%M:%S"),
            "value": values,
            "is_anomaly": labels,
        }
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("series_pipelines")
    _series(600, 0).to_csv(folder / "train.csv", index=False)
    _series(300, 1, spike=150).to_csv(folder / "test.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def store(workdir):
    return f"sqlite:///{workdir / 'mlflow.db'}"


@pytest.fixture(scope="module")
def fitted(workdir, store):
    return run_fit(
        FitSettings(
            data=str(workdir / "train.csv"),
            time_column="timestamp",
            label_column="is_anomaly",
            eval_data=str(workdir / "test.csv"),
            tracking_uri=store,
            output_dir=str(workdir / "outputs"),
            **SMALL,
        )
    )


def test_fit_on_a_series_logs_a_reviewable_run(fitted, store):
    client = mlflow.MlflowClient(store)
    run = client.get_run(fitted.run_id)
    assert run.info.status == "FINISHED" and run.data.tags["anomaly_vae.modality"] == "series"
    assert run.data.params["window"] == "16" and run.data.params["value_columns"] == "['value']"
    for name in ("eval_vus_pr", "eval_range_pr_auc", "eval_average_precision", "eval_roc_auc", "threshold"):
        assert np.isfinite(run.data.metrics[name]), name
    assert run.data.metrics["eval_roc_auc"] > 0.9  # a 5-sigma spike in a clean sine
    plots = {a.path for a in client.list_artifacts(fitted.run_id, "plots")}
    assert {"plots/series_scores.png", "plots/series_scores.html", "plots/training_curves.png"} <= plots
    page = client.download_artifacts(fitted.run_id, "plots/series_scores.html")
    text = open(page, encoding="utf-8").read()
    assert "<script" in text and 'src="http' not in text  # self-contained: the script is in the page, no CDN
    bundle = SeriesBundle.load(fitted.local_model)
    assert bundle.columns == ["timestamp", "value"] and bundle.detector.time_step_ == pd.Timedelta(minutes=1)


def test_score_writes_one_row_per_time_point_and_the_pyfunc_agrees(fitted, workdir, store):
    out = workdir / "scores.csv"
    result = run_score(
        ScoreSettings(model_uri=fitted.model_uri, data=str(workdir / "test.csv"), output=str(out), tracking_uri=store)
    )
    table = pd.read_csv(out)
    assert result.rows == len(table) == 300
    assert list(table.columns) == ["timestamp", "value", "is_anomaly_input", "anomaly_score", "p_value", "is_anomaly"]
    assert 149 <= int(table.anomaly_score.idxmax()) <= 153 and table.is_anomaly[151]
    model = mlflow.pyfunc.load_model(fitted.model_uri)
    served = model.predict(pd.read_csv(workdir / "test.csv")[["timestamp", "value"]])
    np.testing.assert_allclose(served["anomaly_score"], table.anomaly_score, rtol=1e-5)


def test_a_broken_series_fails_the_cli_with_one_line_and_nothing_written(fitted, workdir):
    frame = pd.read_csv(workdir / "test.csv")
    frame.iloc[[10, 11]] = frame.iloc[[11, 10]].to_numpy()  # two rows swapped
    frame.to_csv(workdir / "unsorted.csv", index=False)
    out = workdir / "never.csv"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines.cli",
            "score",
            str(fitted.local_model),
            str(workdir / "unsorted.csv"),
            str(out),
            "--no-log-run",
        ],
        capture_output=True,
        text=True,
        cwd=workdir,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 2, proc.stderr
    assert "is not in time order: row 11 (2026-03-01 00:10:00) comes before row 10" in proc.stderr
    assert "Traceback" not in proc.stderr and not out.exists()


def test_series_options_are_refused_for_tables_and_checked_before_fitting(workdir, store):
    pd.DataFrame({"a": np.arange(50.0), "b": np.arange(50.0) ** 0.5}).to_csv(workdir / "table.csv", index=False)
    with pytest.raises(ValueError, match="--stride apply to time series"):
        run_fit(FitSettings(data=str(workdir / "table.csv"), tracking_uri=store, stride=2, epochs=1, verbose=0))
    with pytest.raises(ValueError, match="--point-rule must be a str among"):
        run_fit(FitSettings(data=str(workdir / "train.csv"), window=16, point_rule="median", tracking_uri=store))
    with pytest.raises(ValueError, match="no time column 'time'"):
        run_fit(FitSettings(data=str(workdir / "train.csv"), time_column="time", tracking_uri=store, **SMALL))


def test_sample_writes_windows_as_a_long_table(fitted, workdir):
    from pipelines.sample import run_sample

    result = run_sample(str(fitted.local_model), 3, str(workdir / "windows.csv"))
    table = pd.read_csv(workdir / "windows.csv")
    assert result.kind == "windows" and list(table.columns) == ["window", "step", "value"] and len(table) == 48


def test_window_auto_fits_one_period_says_so_and_the_model_keeps_it(workdir, store, capsys):
    fitted = run_fit(
        FitSettings(
            data=str(workdir / "train.csv"),
            time_column="timestamp",
            tracking_uri=store,
            output_dir=str(workdir / "outputs"),
            run_name="auto-window",
            **{**SMALL, "window": "auto"},
        )
    )
    assert "windows of 20 (window auto: one period of the series, 20 points)" in capsys.readouterr().err
    bundle = SeriesBundle.load(fitted.local_model)
    assert bundle.detector.window == "auto" and bundle.detector.window_ == 20
