"""Calibrated decisions through the pipelines: a POT fit run, ``score --fdr``, drift checks, ``--recalibrate``."""

import mlflow
import numpy as np
import pandas as pd
import pytest

from anomaly_vae.decisions.p_values import bh_select
from pipelines.fit import run_fit
from pipelines.modalities import load_bundle
from pipelines.score import run_score
from pipelines.settings import FitSettings, ScoreSettings


def normal_rows(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 2))
    x = np.column_stack([z, z @ [[1.0, 0.5], [-0.5, 1.0]] + 0.2 * rng.normal(size=(n, 2))]) + shift
    return pd.DataFrame(x, columns=["a", "b", "c", "d"])


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("calibration")


@pytest.fixture(scope="module")
def store(workdir):
    return f"sqlite:///{workdir / 'mlflow.db'}"


@pytest.fixture(scope="module")
def fitted(workdir, store):
    train = workdir / "train.csv"
    normal_rows(6000, 0).to_csv(train, index=False)
    settings = FitSettings(
        data=str(train),
        tracking_uri=store,
        output_dir=str(workdir / "out"),
        epochs=3,
        verbose=0,
        threshold="pot",
        target_fpr=1e-3,
        register="calibrated",
    )
    return run_fit(settings)


def test_a_pot_fit_logs_its_calibration_set_tail_and_plots(fitted, store, capfd):
    detector = load_bundle(fitted.local_model).detector
    assert len(detector.calibration_scores_) == 600 and detector.threshold_rule_ == "pot"
    tail = detector.tail_
    assert tail is not None and tail.n_calibration == 600 and tail.n_excesses == 50
    client = mlflow.MlflowClient(store)
    metrics = client.get_run(fitted.run_id).data.metrics
    assert metrics["n_calibration_rows"] == 600 and metrics["tail_shape"] == pytest.approx(tail.shape)
    assert metrics["threshold"] == pytest.approx(detector.threshold_) and metrics["target_fpr"] == 1e-3
    plots = {a.path for a in client.list_artifacts(fitted.run_id, "plots")}
    assert {"plots/calibration.png", "plots/tail_fit.png"} <= plots


def test_score_with_fdr_flags_by_benjamini_hochberg_over_the_whole_file(fitted, store, workdir):
    rng = np.random.default_rng(1)
    anomalies = pd.DataFrame(rng.normal(0, 4, size=(60, 4)), columns=["a", "b", "c", "d"])
    data = workdir / "mixed.csv"
    pd.concat([normal_rows(900, 2), anomalies]).to_csv(data, index=False)
    out = workdir / "fdr.csv"
    result = run_score(
        ScoreSettings(
            model_uri=fitted.model_uri, data=str(data), output=str(out), chunk_rows=128, tracking_uri=store, fdr=0.1
        )
    )
    scores = pd.read_csv(out)
    np.testing.assert_array_equal(scores["is_anomaly"], bh_select(scores["p_value"], 0.1))
    assert scores["is_anomaly"].iloc[900:].mean() > 0.5 and scores["is_anomaly"].iloc[:900].mean() < 0.05
    bundle = load_bundle(fitted.local_model)
    np.testing.assert_array_equal(scores["p_value"], bundle.detector.p_values(bundle.transform(pd.read_csv(data))))
    metrics = mlflow.MlflowClient(store).get_run(result.run_id).data.metrics
    assert "drift_ks_statistic" in metrics and "expected_flagged_share" not in metrics  # BH flags: no expected share


def test_each_score_run_checks_drift_and_warns_only_beyond_chance(fitted, store, workdir, capfd):
    for name, frame, drifted in [
        ("same.csv", normal_rows(3000, 3), False),
        ("shifted.csv", normal_rows(3000, 4, 1.5), True),
    ]:
        data = workdir / name
        frame.to_csv(data, index=False)
        capfd.readouterr()
        result = run_score(
            ScoreSettings(
                model_uri=fitted.model_uri, data=str(data), output=str(workdir / f"s-{name}"), tracking_uri=store
            )
        )
        err = capfd.readouterr().err
        assert result.drift.drifted == drifted
        assert ("warning: 3000 scores differ from the calibration scores beyond chance" in err) == drifted, err
        metrics = mlflow.MlflowClient(store).get_run(result.run_id).data.metrics
        assert metrics["drift_ks_p_value"] == pytest.approx(result.drift.ks_p_value)
        assert metrics["expected_flagged_share"] == pytest.approx(1e-3, rel=0.01)


def test_recalibrate_refits_the_threshold_on_fresh_rows_and_logs_a_new_version(fitted, store, workdir):
    fresh = workdir / "fresh.csv"
    normal_rows(2000, 5, 0.3).assign(label=0).to_csv(fresh, index=False)
    data = workdir / "later.csv"
    normal_rows(500, 6, 0.3).to_csv(data, index=False)
    out = workdir / "recal.csv"
    result = run_score(
        ScoreSettings(
            model_uri="models:/calibrated/1",
            data=str(data),
            output=str(out),
            tracking_uri=store,
            recalibrate=str(fresh),
        )
    )
    new = load_bundle(result.recalibrated_model)
    old = load_bundle(fitted.local_model)
    assert result.recalibrated_model == workdir / "recal-recalibrated-model"
    assert len(new.detector.calibration_scores_) == 2000 and new.detector.threshold_ != old.detector.threshold_
    np.testing.assert_array_equal(
        new.detector.calibration_scores_, old.detector.anomaly_score(old.transform(pd.read_csv(fresh)))
    )
    assert new.detector.threshold_rule_ == "pot" and new.detector.tail_.n_calibration == 2000
    assert result.registered == "models:/calibrated/2" and result.recalibrated_uri == f"runs:/{result.run_id}/model"
    served = mlflow.pyfunc.load_model("models:/calibrated/2").predict(pd.read_csv(data))
    np.testing.assert_array_equal(served["is_anomaly"], pd.read_csv(out)["is_anomaly"])


def test_recalibrate_with_a_bad_file_names_it_and_writes_nothing(fitted, store, workdir):
    bad = workdir / "bad.csv"
    pd.DataFrame({"a": [1.0], "b": [2.0]}).to_csv(bad, index=False)
    good = workdir / "good.csv"
    normal_rows(50, 8).to_csv(good, index=False)
    out = workdir / "never.csv"
    for recalibrate, data, match in [(bad, good, "--recalibrate .*bad.csv"), (good, bad, "bad.csv.*rows 0-0")]:
        with pytest.raises(ValueError, match=match):
            run_score(
                ScoreSettings(
                    model_uri=fitted.model_uri,
                    data=str(data),
                    output=str(out),
                    tracking_uri=store,
                    recalibrate=str(recalibrate),
                )
            )
        assert not out.exists() and not (workdir / "never-recalibrated-model").exists()


def test_the_cli_prints_a_calibration_warning_as_one_line(workdir):
    import os
    import subprocess
    import sys
    from pathlib import Path

    small = workdir / "small.csv"
    normal_rows(300, 7).to_csv(small, index=False)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines.cli",
            "fit",
            str(small),
            "--threshold",
            "conformal",
            "--target-fpr",
            "0.001",
            "--epochs",
            "1",
            "--tracking-uri",
            f"sqlite:///{workdir / 'w.db'}",
            "--output-dir",
            str(workdir / "w-out"),
            "--verbose",
            "0",
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    warning = [line for line in out.stderr.splitlines() if "too few for a conformal threshold" in line]
    assert len(warning) == 1 and warning[0].startswith("warning: 30 calibration scores"), out.stderr[-2000:]
    assert "CalibrationWarning" not in out.stderr and "threshold: inf" in out.stdout
