"""The fit and score pipelines on an image folder (scikit-learn's digits, MVTec layout), against a real local
MLflow store, real PNG files and the logged pyfunc model."""

import io
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pipelines.demo_images import write_digit_images
from pipelines.fit import run_fit
from pipelines.modalities.images.bundle import ImageBundle
from pipelines.score import run_score
from pipelines.settings import FitSettings, ScoreSettings

ROOT = Path(__file__).resolve().parents[1]
SMALL = dict(epochs=20, filters=[8], dense_units=32, latent_dim=4, n_samples=4, verbose=0)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("image_pipelines")


@pytest.fixture(scope="module")
def store(workdir):
    return f"sqlite:///{workdir / 'mlflow.db'}"


@pytest.fixture(scope="module")
def images(workdir):
    return write_digit_images(workdir / "digits", per_anomaly=10)


@pytest.fixture(scope="module")
def fitted(images, store, workdir):
    return run_fit(FitSettings(data=str(images), tracking_uri=store, output_dir=str(workdir / "outputs"), **SMALL))


def test_fit_on_an_image_folder_logs_a_reviewable_run(fitted, store, capfd):
    client = mlflow.MlflowClient(store)
    run = client.get_run(fitted.run_id)
    assert run.info.status == "FINISHED" and run.data.tags["anomaly_vae.modality"] == "images"
    assert run.data.params["image_shape"] == "(8, 8, 1)"
    assert run.data.metrics["eval_roc_auc"] > 0.9 and fitted.metrics["eval_roc_auc"] == run.data.metrics["eval_roc_auc"]
    assert len(client.get_metric_history(fitted.run_id, "val_loss")) == fitted.metrics["n_epochs"]
    plots = {a.path for a in client.list_artifacts(fitted.run_id, "plots")}
    assert plots == {
        f"plots/{n}.png"
        for n in (
            "training_curves",
            "score_histogram",
            "roc_pr_curves",
            "reconstructions",
            "anomaly_maps",
            "samples",
            "interpolation",
        )
    } | {"plots/score_histogram.html"}
    assert isinstance(ImageBundle.load(fitted.local_model), ImageBundle)


def test_the_fit_says_which_modality_it_chose(images, store, workdir, capfd):
    np.savez(workdir / "table.npz", X=np.random.default_rng(0).normal(size=(50, 3)))
    run_fit(
        FitSettings(
            data=str(workdir / "table.npz"),
            tracking_uri=store,
            output_dir=str(workdir / "outputs"),
            epochs=2,
            verbose=0,
        )
    )
    assert "Input: a table" in capfd.readouterr().err
    with pytest.raises(ValueError, match="--hidden-units apply to tables, not to images"):
        run_fit(FitSettings(data=str(images), tracking_uri=store, hidden_units=[8], **SMALL))


def test_score_writes_one_row_per_image_and_the_maps(fitted, images, store, workdir):
    out, maps = workdir / "scores.csv", workdir / "maps"
    result = run_score(
        ScoreSettings(model_uri=fitted.model_uri, data=str(images), output=str(out), maps=str(maps), tracking_uri=store)
    )
    table = pd.read_csv(out)
    assert list(table.columns) == ["path", "anomaly_score", "p_value", "is_anomaly", "label"]
    assert result.rows == len(table) == len(list((images / "test").rglob("*.png")))
    assert table.path.iloc[0].startswith("test/digit_1/")
    pngs = sorted(maps.rglob("*.png"))  # at each image's relative path, one map per row
    assert sorted(str(p.relative_to(maps)) for p in pngs) == sorted(table.path)
    assert np.asarray(Image.open(pngs[0])).shape == (8, 8)
    # the pyfunc model, loaded through MLflow, scores PNG bytes as the pipeline scores the files
    model = mlflow.pyfunc.load_model(fitted.model_uri)
    first = [images / p for p in table.path[:5]]
    served = model.predict(pd.DataFrame({"image": [f.read_bytes() for f in first]}))
    np.testing.assert_allclose(served["anomaly_score"], table.anomaly_score[:5], rtol=1e-5)


def test_bad_images_fail_the_cli_with_one_line_and_nothing_written(fitted, images, workdir):
    bad = workdir / "bad_images"
    bad.mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(bad / "a.png")
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(buffer, format="PNG")
    (bad / "b.png").write_bytes(buffer.getvalue()[:40])  # truncated
    out = workdir / "never.csv"
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "score", str(fitted.local_model), str(bad), str(out), "--no-log-run"],
        capture_output=True,
        text=True,
        cwd=workdir,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 2, proc.stderr
    assert "b.png' is not a readable image" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()
    for f in bad.iterdir():
        f.unlink()
    Image.fromarray(np.zeros((9, 9), np.uint8)).save(bad / "b.png")
    with pytest.raises(ValueError, match="The images are 9 x 9 .* fitted on 8 x 8"):
        run_score(ScoreSettings(model_uri=str(fitted.local_model), data=str(bad), output=str(out), log_run=False))
    assert not out.exists()


def test_the_spark_engine_refuses_an_image_model_before_starting_spark(fitted, images, store, workdir):
    pytest.importorskip("pyspark")
    from pipelines.spark_score import run_spark_score

    with pytest.raises(ValueError, match="is a model of images; --engine spark scores tables only"):
        run_spark_score(
            ScoreSettings(
                model_uri=fitted.model_uri,
                data=str(images),
                output=str(workdir / "spark_out.parquet"),
                engine="spark",
                tracking_uri=store,
            )
        )


def test_sample_writes_new_images_into_a_new_folder(fitted, workdir):
    from PIL import Image

    from pipelines.sample import run_sample

    out = workdir / "sampled"
    result = run_sample(str(fitted.local_model), 5, str(out))
    files = sorted(out.glob("*.png"))
    assert result.kind == "images" and len(files) == 5
    with Image.open(files[0]) as image:
        assert image.size == (8, 8) and image.mode == "L"
    with pytest.raises(ValueError, match="already exists"):
        run_sample(str(fitted.local_model), 5, str(out))
