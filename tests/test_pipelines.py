"""Fit and score pipelines end to end, against a real local MLflow store (SQLite) and real files."""

import os
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from pipelines.demo_data import DATA_DIR
from pipelines.fit import run_fit
from pipelines.modalities.table.bundle import ModelBundle
from pipelines.score import run_score
from pipelines.settings import FitSettings, ScoreSettings

TRAIN, TEST = DATA_DIR / "transactions_train.csv", DATA_DIR / "transactions_test.csv"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("pipelines")


@pytest.fixture(scope="module")
def store(workdir):
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    return uri


@pytest.fixture(scope="module")
def fitted(workdir, store):
    settings = FitSettings(
        data=str(TRAIN),
        label_column="label",
        eval_data=str(TEST),
        tracking_uri=store,
        output_dir=str(workdir / "outputs"),
        epochs=4,
        verbose=0,
        register="demo",
        alias="champion",
    )
    return run_fit(settings)


def run_cli(*args, cwd, env=None):
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        timeout=300,
        check=False,
    )


def test_fit_logs_a_reviewable_run(fitted, store):
    client = mlflow.MlflowClient(store)
    run = client.get_run(fitted.run_id)
    assert run.info.status == "FINISHED"
    params = run.data.params
    assert params["keras_backend"] == os.environ.get("KERAS_BACKEND", "tensorflow") and params["device"]
    assert params["epochs"] == "4" and "version.keras" in params
    for key in ("loss", "reconstruction_loss", "kl_loss", "val_loss", "val_reconstruction_loss", "val_kl_loss"):
        assert len(client.get_metric_history(fitted.run_id, key)) == fitted.metrics["n_epochs"]
    assert run.data.metrics["threshold"] == pytest.approx(fitted.threshold)
    assert 0.5 < run.data.metrics["eval_roc_auc"] <= 1.0
    plots = {a.path for a in client.list_artifacts(fitted.run_id, "plots")}
    assert plots == {
        f"plots/{n}.png"
        for n in (
            "training_curves",
            "score_histogram",
            "roc_pr_curves",
            "latent_means",
            "feature_scores",
            "calibration",
        )
    } | {"plots/score_histogram.html"}
    assert run.data.metrics["n_calibration_rows"] == len(
        ModelBundle.load(fitted.local_model).detector.calibration_scores_
    )
    assert run.inputs.dataset_inputs, "the training dataset is logged through mlflow.data"
    samples = mlflow.load_table("samples/samples.json", run_ids=[fitted.run_id])
    assert len(samples) == 50 and list(samples.columns) == ModelBundle.load(fitted.local_model).schema.columns


def test_categorical_columns_get_the_categorical_likelihood(fitted):
    bundle = ModelBundle.load(fitted.local_model)
    names = bundle.preprocessor.get_feature_names_out()
    groups = [[str(names[i]) for i in g] for g in bundle.detector.categorical_groups]
    assert len(groups) == len(bundle.schema.categorical) == 2
    for column, group in zip(bundle.schema.categorical, groups):
        assert len(group) >= 2 and all(n.startswith(f"cat__{column}_") for n in group)


def test_served_model_scores_equal_in_process_scores(fitted, store):
    test = pd.read_csv(TEST)
    served = mlflow.pyfunc.load_model("models:/demo@champion").predict(test)
    assert list(served.columns) == ["anomaly_score", "p_value", "is_anomaly", "top_features"]
    np.testing.assert_array_equal(
        served["p_value"],
        bundle_p_values := ModelBundle.load(fitted.local_model).detector.p_values(
            ModelBundle.load(fitted.local_model).transform(test)
        ),
    )
    assert ((bundle_p_values > 0) & (bundle_p_values <= 1)).all()
    bundle = ModelBundle.load(fitted.local_model)
    in_process = bundle.detector.anomaly_score(bundle.transform(test))
    np.testing.assert_allclose(served["anomaly_score"].to_numpy(), in_process, rtol=1e-6, atol=1e-6)
    assert served["is_anomaly"].tolist() == list(in_process > bundle.detector.threshold_)
    assert mlflow.pyfunc.load_model(fitted.model_uri).metadata.signature is not None


def test_score_pipeline_writes_scores_atomically_and_logs_a_run(fitted, store, workdir):
    out = workdir / "scores.parquet"
    result = run_score(
        ScoreSettings(model_uri=fitted.model_uri, data=str(TEST), output=str(out), chunk_rows=300, tracking_uri=store)
    )
    scores = pd.read_parquet(out)
    test = pd.read_csv(TEST)
    assert len(scores) == result.rows == len(test)
    bundle = ModelBundle.load(fitted.local_model)
    numeric = bundle.schema.numeric  # CSV into Parquet: the model's numeric columns as numbers, the rest as read
    pd.testing.assert_frame_equal(scores[numeric], test[numeric].astype(float))
    as_text = pd.read_csv(TEST, dtype=str)
    for col in as_text.columns.difference(numeric):
        assert scores[col].tolist() == as_text[col].where(as_text[col].notna(), None).tolist()
    np.testing.assert_allclose(scores["anomaly_score"], bundle.score(test)["anomaly_score"], rtol=1e-6)
    metrics = mlflow.MlflowClient(store).get_run(result.run_id).data.metrics
    assert metrics["rows_scored"] == len(test) and metrics["anomaly_rate"] == pytest.approx(scores["is_anomaly"].mean())
    assert (
        result.unknown_categories.get("region", 0)
        == (~test["region"].isin(["north", "south", "east", "west"]) & test["region"].notna()).sum()
    )


def test_cli_flags_override_the_yaml_config(workdir, store):
    cfg = workdir / "fit.yaml"
    cfg.write_text(f"data: {TRAIN}\nlabel_column: label\nepochs: 50\nverbose: 0\nrun_name: from-yaml\n")
    out = run_cli(
        "fit",
        "--config",
        str(cfg),
        "--epochs",
        "2",
        "--no-categorical-likelihood",
        "--tracking-uri",
        store,
        "--output-dir",
        str(workdir / "cli"),
        cwd=workdir,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    run = mlflow.MlflowClient(store).search_runs(
        [mlflow.get_experiment_by_name("anomaly-vae").experiment_id], "attributes.run_name = 'from-yaml'"
    )[0]
    assert run.data.params["epochs"] == "2" and run.data.params["categorical_likelihood"] == "False"
    assert ModelBundle.load(workdir / "cli" / "from-yaml" / "model").detector.categorical_groups is None


@pytest.mark.reliability
def test_cli_bad_input_exits_cleanly_without_output(fitted, workdir):
    bad = workdir / "bad.csv"
    pd.read_csv(TEST).drop(columns=["amount"]).to_csv(bad, index=False)
    out_file = workdir / "never.csv"
    out = run_cli("score", str(fitted.local_model), str(bad), str(out_file), "--no-log-run", cwd=workdir)
    assert out.returncode == 2
    assert "Missing column(s) ['amount']" in out.stderr and "Traceback" not in out.stderr
    assert not out_file.exists()


@pytest.mark.reliability
@pytest.mark.parametrize(
    "option, value",
    [
        ("--epochs", "many"),  # a schedule that is neither a number nor a known word
        ("--n-members", "auto"),  # a value only the series detector takes, on a table
    ],
)
def test_cli_refuses_a_bad_setting_by_its_flag_before_writing(workdir, option, value):
    out = run_cli("fit", str(TRAIN), option, value, "--output-dir", str(workdir / "never"), cwd=workdir)
    assert out.returncode == 2
    assert f"{option} must be an int" in out.stderr and f"'{value}'" in out.stderr and "Traceback" not in out.stderr
    assert not (workdir / "never").exists()


@pytest.mark.reliability
def test_bad_detector_setting_fails_before_a_run_is_opened(tmp_path):
    out = run_cli(
        "fit",
        str(TRAIN),
        "--precision",
        "float16",
        "--output-dir",
        str(tmp_path / "out"),
        "--tracking-uri",
        f"sqlite:///{tmp_path / 'mlflow.db'}",
        cwd=tmp_path,
    )
    assert out.returncode == 2
    assert "--precision must be" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "mlflow.db").exists()
    out = run_cli(
        "fit",
        str(TRAIN),
        "--kl-warmup",
        "1.5",
        "--output-dir",
        str(tmp_path / "out"),
        "--tracking-uri",
        f"sqlite:///{tmp_path / 'mlflow.db'}",
        cwd=tmp_path,
    )
    assert out.returncode == 2 and "--kl-warmup must be" in out.stderr


@pytest.mark.reliability
def test_unreachable_tracking_server_still_saves_the_model(workdir):
    out = run_cli(
        "fit",
        str(TRAIN),
        "--label-column",
        "label",
        "--epochs",
        "1",
        "--verbose",
        "0",
        "--tracking-uri",
        "http://127.0.0.1:9",
        "--output-dir",
        str(workdir / "offline"),
        cwd=workdir,
    )
    assert out.returncode == 3, out.stderr[-2000:]
    assert "MLflow tracking failed" in out.stderr and "Traceback" not in out.stderr
    saved = list((workdir / "offline").glob("*/model/bundle.json"))
    assert len(saved) == 1 and str(saved[0].parent) in out.stderr.replace("\n", "")
    assert np.isfinite(ModelBundle.load(saved[0].parent).detector.threshold_)


def test_help_does_not_import_a_backend():
    code = (
        "import sys; from typer.testing import CliRunner; from pipelines.cli import app; "
        "r = CliRunner().invoke(app, ['fit', '--help']); assert r.exit_code == 0 and '--label-column' in r.output; "
        "print(sorted(m for m in ('keras', 'tensorflow', 'jax', 'torch', 'mlflow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


def test_fit_help_groups_typed_options_in_panels_free_of_markup_and_version_prints():
    from typer.testing import CliRunner

    from anomaly_vae import __version__
    from pipelines.cli import PANEL_ORDER, app

    runner = CliRunner()
    version = runner.invoke(app, ["--version"])
    assert version.exit_code == 0 and version.output.strip() == f"anomaly-vae {__version__}"
    result = runner.invoke(app, ["fit", "--help"], terminal_width=100, env={"COLUMNS": "100"})
    assert result.exit_code == 0
    text = result.output
    panels = [text.index(f"─ {panel} ") for panel in PANEL_ORDER]
    assert panels == sorted(panels)  # data first, tracking last
    assert "[gaussian|heteroscedastic|mse|bern" in text  # the choices (the column may wrap the rest)
    assert "INTEGER|auto" in text and "FLOAT" in text and "<str>" not in text.split("─ Data ")[1]
    for markup in (":class:", ":meth:", ":mod:", ":data:", "``", "[default:"):
        assert markup not in text, markup
    assert "(default: $MLFLOW_TRACKING_URI or" in text  # brackets in help are text, not swallowed as markup


def test_runs_are_named_tagged_and_described_for_review(fitted, store, workdir):
    """A reviewer tells runs apart from the list, reads what fit resolved, and finds the decision in the run's
    and the registered version's description; a score run links to the fit run and version it used."""
    from pipelines.tracking.run_identity import DESCRIPTION_TAG, EXPERIMENT_KIND_TAG, MODEL_TRAINING, PARENT_RUN_TAG

    client = mlflow.MlflowClient(store)
    experiment = client.get_experiment_by_name("anomaly-vae")
    assert experiment.tags[EXPERIMENT_KIND_TAG] == MODEL_TRAINING  # opens on the runs list, not the GenAI overview
    run = client.get_run(fitted.run_id)
    assert run.info.run_name == "fit · table · transactions_train.csv"
    tags, params = run.data.tags, run.data.params
    assert (tags["anomaly_vae.command"], tags["anomaly_vae.modality"], tags["anomaly_vae.data"]) == (
        "fit",
        "table",
        "transactions_train.csv",
    )
    assert fitted.local_model.parent.name == f"transactions_train-{fitted.run_id[:8]}"
    assert params["latent_dim"] == "None" and int(params["resolved.latent_dim"]) >= 1  # asked for, and built
    assert params["resolved.epochs"] == "4" and 1 <= int(params["resolved.epoch_kept"]) <= 4
    n_rows = int((pd.read_csv(TRAIN)["label"] == 0).sum())  # fit trains on the normal rows
    split = sum(int(params[f"resolved.{k}"]) for k in ("n_train", "n_validation", "n_calibration"))
    assert split == n_rows
    assert float(params["resolved.threshold"]) == pytest.approx(fitted.threshold, rel=1e-5)
    description = tags[DESCRIPTION_TAG]
    auc = run.data.metrics["eval_roc_auc"]
    for text in (f"{fitted.threshold:.4g}", f"{n_rows:,} rows", f"ROC-AUC {auc:.3f}", f"runs:/{fitted.run_id}/model"):
        assert text in description
    version = client.get_model_version("demo", str(fitted.registered_version))
    assert version.description == description
    logged = [
        m
        for m in mlflow.search_logged_models(experiment_ids=[experiment.experiment_id], output_format="list")
        if m.source_run_id == fitted.run_id
    ]
    assert len(logged) == 1 and logged[0].tags[DESCRIPTION_TAG] == description  # the logged model's page shows it

    result = run_score(
        ScoreSettings(
            model_uri="models:/demo@champion",
            data=str(TEST),
            output=str(workdir / "linked_scores.csv"),
            tracking_uri=store,
        )
    )
    score_run = client.get_run(result.run_id)
    assert score_run.info.run_name == "score · table · transactions_test.csv"
    assert score_run.data.tags["anomaly_vae.fit_run_id"] == fitted.run_id
    assert score_run.data.tags[PARENT_RUN_TAG] == fitted.run_id
    assert score_run.data.tags["anomaly_vae.model_version"] == f"demo/{fitted.registered_version}"


def test_an_experiment_kind_chosen_by_a_person_is_kept(tmp_path):
    from pipelines.tracking.run_identity import EXPERIMENT_KIND_TAG, MODEL_TRAINING, use_experiment

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'kinds.db'}")
    client = mlflow.MlflowClient()
    unmarked = client.create_experiment("unmarked")
    chosen = client.create_experiment("chosen", tags={EXPERIMENT_KIND_TAG: "genai_development"})
    use_experiment("unmarked")
    use_experiment("chosen")
    assert use_experiment("new").tags[EXPERIMENT_KIND_TAG] == MODEL_TRAINING
    assert client.get_experiment(unmarked).tags[EXPERIMENT_KIND_TAG] == MODEL_TRAINING
    assert client.get_experiment(chosen).tags[EXPERIMENT_KIND_TAG] == "genai_development"


def test_fit_trains_on_the_known_anomalies_when_asked(workdir, store):
    frame = pd.read_csv(TRAIN)
    n_known = int((frame["label"] == 1).sum())
    settings = FitSettings(
        data=str(TRAIN),
        label_column="label",
        use_labels=True,
        tracking_uri=store,
        output_dir=str(workdir / "known"),
        epochs=3,
        verbose=0,
    )
    result = run_fit(settings)
    run = mlflow.MlflowClient(store).get_run(result.run_id)
    assert n_known > 0 and run.data.metrics["n_known_anomalies"] == n_known
    assert run.data.params["resolved.n_known_anomalies"] == str(n_known)
    assert f"**Known anomalies:** {n_known}" in run.data.tags["mlflow.note.content"]
    detector = ModelBundle.load(result.local_model).detector
    assert detector.use_labels
    held_out = sum(int(run.data.params[f"resolved.{k}"]) for k in ("n_train", "n_validation", "n_calibration"))
    assert held_out == len(frame) - n_known  # the known anomalies neither validate nor calibrate


@pytest.mark.reliability
def test_use_labels_without_a_label_column_is_refused_before_a_run(tmp_path):
    out = run_cli(
        "fit",
        str(TRAIN),
        "--use-labels",
        "true",
        "--output-dir",
        str(tmp_path / "out"),
        "--tracking-uri",
        f"sqlite:///{tmp_path / 'mlflow.db'}",
        cwd=tmp_path,
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "--use-labels needs --label-column" in out.stderr.replace("\n", " ")
    assert not (tmp_path / "out").exists() and not (tmp_path / "mlflow.db").exists()
