"""Against a real ``mlflow server`` on 127.0.0.1: fit, register with an alias, score, load back, view in the UI."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from pipelines.demo_data import DATA_DIR

pytestmark = [pytest.mark.mlflow_server, pytest.mark.slow]
TRAIN, TEST = DATA_DIR / "transactions_train.csv", DATA_DIR / "transactions_test.csv"
ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "outputs" / "screenshots"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real MLflow tracking server with a SQLite store and a local artifact root, on a free port."""
    root = tmp_path_factory.mktemp("server")
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination",
        str(root / "artifacts"),
        "--workers",
        "1",
    ]
    log = open(root / "server.log", "w")
    proc = subprocess.Popen(cmd, cwd=root, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            pytest.fail(f"mlflow server did not start: {(root / 'server.log').read_text()[-3000:]}")
        time.sleep(0.5)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def fitted_run(server, tmp_path_factory):
    """Fit and score through the CLI against the server, as a user would."""
    work = tmp_path_factory.mktemp("cli")
    env = {**os.environ, "MLFLOW_TRACKING_URI": server, "PYTHONPATH": str(ROOT)}
    fit = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines",
            "fit",
            str(TRAIN),
            "--label-column",
            "label",
            "--eval-data",
            str(TEST),
            "--epochs",
            "3",
            "--verbose",
            "0",
            "--run-name",
            "server-run",
            "--register",
            "fraud",
            "--alias",
            "champion",
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert fit.returncode == 0, fit.stderr[-3000:]
    run_id = next(line.split(": ")[1] for line in fit.stdout.splitlines() if line.startswith("run id:"))
    review = next(line.split(": ", 1)[1] for line in fit.stdout.splitlines() if line.startswith("review:"))
    out = work / "scores.csv"
    score = subprocess.run(
        [sys.executable, "-m", "pipelines", "score", "models:/fraud@champion", str(TEST), str(out)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert score.returncode == 0, score.stderr[-3000:]
    return {"run_id": run_id, "scores": out, "review": review}


def test_fit_and_score_against_the_server(server, fitted_run):
    client = mlflow.MlflowClient(server)
    run = client.get_run(fitted_run["run_id"])
    assert run.info.run_name == "server-run" and run.info.status == "FINISHED"
    assert len(client.get_metric_history(run.info.run_id, "val_loss")) == 3
    version = client.get_model_version_by_alias("fraud", "champion")
    assert version.run_id == run.info.run_id
    scores = pd.read_csv(fitted_run["scores"])
    mlflow.set_tracking_uri(server)
    served = mlflow.pyfunc.load_model("models:/fraud@champion").predict(pd.read_csv(TEST))
    np.testing.assert_allclose(scores["anomaly_score"], served["anomaly_score"], rtol=1e-6)


def open_chromium(playwright):
    """Debian's headless Chromium (installed by ``make chromium``), offline, and one page on it."""
    browser = playwright.chromium.launch(
        executable_path=shutil.which("chromium"),
        headless=True,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    )
    return browser, browser.new_page(viewport={"width": 1400, "height": 1000})


@pytest.mark.browser
def test_mlflow_ui_shows_the_run(server, fitted_run):
    from playwright.sync_api import sync_playwright

    run = mlflow.MlflowClient(server).get_run(fitted_run["run_id"])
    page_url = f"{server}/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser, page = open_chromium(p)
        page.goto(page_url, wait_until="load")
        page.get_by_text("server-run").first.wait_for(timeout=60_000)
        for metric in ("loss", "kl_loss", "reconstruction_loss", "eval_roc_auc"):
            page.get_by_text(metric, exact=True).first.wait_for(timeout=30_000)
        page.screenshot(path=str(SCREENSHOTS / "run_overview.png"), full_page=True)
        page.goto(f"{page_url}/artifacts", wait_until="load")
        page.get_by_text("plots", exact=True).first.wait_for(timeout=60_000)
        page.screenshot(path=str(SCREENSHOTS / "run_artifacts_root.png"), full_page=True)
        page.get_by_text("plots", exact=True).first.click()
        page.get_by_text("training_curves.png").first.wait_for(timeout=30_000)
        page.get_by_text("training_curves.png").first.click()
        page.wait_for_timeout(1500)
        page.screenshot(path=str(SCREENSHOTS / "run_artifacts.png"), full_page=True)
        browser.close()
    assert (SCREENSHOTS / "run_artifacts.png").stat().st_size > 10_000


@pytest.fixture(scope="module")
def image_run(server, tmp_path_factory):
    """Fit the digit images (MVTec layout) through the CLI against the server."""
    from pipelines.demo_images import write_digit_images

    work = tmp_path_factory.mktemp("images")
    images = write_digit_images(work / "digits", per_anomaly=10)
    env = {**os.environ, "MLFLOW_TRACKING_URI": server, "PYTHONPATH": str(ROOT)}
    fit = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines",
            "fit",
            str(images),
            "--epochs",
            "10",
            "--filters",
            "8",
            "--dense-units",
            "32",
            "--latent-dim",
            "4",
            "--verbose",
            "0",
            "--run-name",
            "image-run",
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert fit.returncode == 0, fit.stderr[-3000:]
    assert "Input: images (MVTec layout" in fit.stderr
    return next(line.split(": ")[1] for line in fit.stdout.splitlines() if line.startswith("run id:"))


@pytest.mark.browser
def test_mlflow_ui_shows_the_image_run_reconstructions_and_maps(server, image_run):
    from playwright.sync_api import sync_playwright

    run = mlflow.MlflowClient(server).get_run(image_run)
    page_url = f"{server}/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}/artifacts"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser, page = open_chromium(p)
        page.goto(page_url, wait_until="load")
        page.get_by_text("plots", exact=True).first.wait_for(timeout=60_000)
        page.get_by_text("plots", exact=True).first.click()
        for name in ("reconstructions", "anomaly_maps"):
            page.get_by_text(f"{name}.png").first.wait_for(timeout=30_000)
            page.get_by_text(f"{name}.png").first.click()
            page.wait_for_timeout(1500)
            page.screenshot(path=str(SCREENSHOTS / f"image_run_{name}.png"), full_page=True)
        browser.close()
    for name in ("reconstructions", "anomaly_maps"):
        assert (SCREENSHOTS / f"image_run_{name}.png").stat().st_size > 10_000


REVIEW_SHOTS = ROOT / "outputs" / "ui"


@pytest.mark.browser
def test_a_reviewer_lands_on_the_runs_list_and_reads_the_model_version(server, fitted_run, image_run):
    """With the link fit prints, the run opens on MLflow's model-training pages (not its GenAI overview); the runs
    list names each run, the run's overview shows its description and resolved settings, and the registered
    version's page shows the model's description."""
    from playwright.sync_api import sync_playwright

    client = mlflow.MlflowClient(server)
    run = client.get_run(fitted_run["run_id"])
    version = client.get_model_version_by_alias("fraud", "champion")
    REVIEW_SHOTS.mkdir(parents=True, exist_ok=True)
    assert (
        fitted_run["review"] == f"{server}/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}"
        "?workflowType=machine_learning"
    )
    with sync_playwright() as p:
        browser, page = open_chromium(p)
        page.goto(f"{server}/#/experiments/{run.info.experiment_id}?workflowType=machine_learning", wait_until="load")
        page.get_by_text("server-run").first.wait_for(timeout=60_000)
        page.get_by_text("image-run").first.wait_for(timeout=30_000)
        assert not page.get_by_text("Detect issues in your traces").is_visible()
        page.screenshot(path=str(REVIEW_SHOTS / "experiment_runs_list.png"), full_page=True)
        page.goto(fitted_run["review"], wait_until="load")  # the link fit printed
        page.get_by_text("Decision:").first.wait_for(timeout=60_000)
        page.get_by_text("resolved.epoch_kept").first.wait_for(timeout=30_000)
        page.screenshot(path=str(REVIEW_SHOTS / "fit_run_overview.png"), full_page=True)
        page.goto(f"{server}/#/models/fraud/versions/{version.version}", wait_until="load")
        page.get_by_text("Decision:").first.wait_for(timeout=60_000)
        page.get_by_text(f"{float(run.data.params['resolved.threshold']):.4g}").first.wait_for(timeout=10_000)
        page.screenshot(path=str(REVIEW_SHOTS / "model_version.png"), full_page=True)
        browser.close()
    for name in ("experiment_runs_list", "fit_run_overview", "model_version"):
        assert (REVIEW_SHOTS / f"{name}.png").stat().st_size > 10_000


@pytest.fixture(scope="module")
def series_run(server, tmp_path_factory):
    """Fit a labelled series through the CLI against the server, with no run name: the default names it."""
    work = tmp_path_factory.mktemp("series")
    for name, n, spike in (("sensor_train.csv", 600, None), ("sensor_test.csv", 300, 150)):
        t = np.arange(n)
        values = np.sin(2 * np.pi * t / 20) + 0.05 * np.random.default_rng(n).normal(size=n)
        labels = np.zeros(n, dtype=int)
        if spike:
            values[spike : spike + 3] += 5.0
            labels[spike : spike + 3] = 1
        pd.DataFrame(
            {
                "timestamp": pd.date_range("2026-03-01", periods=n, freq="min").strftime("%Y-%m-%d %H:%M:%S"),
                "value": values,
                "is_anomaly": labels,
            }
        ).to_csv(work / name, index=False)
    env = {**os.environ, "MLFLOW_TRACKING_URI": server, "PYTHONPATH": str(ROOT)}
    fit = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines",
            "fit",
            str(work / "sensor_train.csv"),
            "--time-column",
            "timestamp",
            "--label-column",
            "is_anomaly",
            "--eval-data",
            str(work / "sensor_test.csv"),
            "--window",
            "16",
            "--epochs",
            "4",
            "--hidden-units",
            "16",
            "--latent-dim",
            "4",
            "--verbose",
            "0",
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert fit.returncode == 0, fit.stderr[-3000:]
    return next(line.split(": ")[1] for line in fit.stdout.splitlines() if line.startswith("run id:"))


@pytest.mark.browser
def test_every_review_plot_of_a_table_an_image_a_series_and_a_score_run_renders(
    server, fitted_run, image_run, series_run
):
    """Each plot a fit or score run logs opens on its artifact page: the PNG as an image, the HTML page in its
    frame. One screenshot per plot under outputs/ui/."""
    from playwright.sync_api import sync_playwright

    client = mlflow.MlflowClient(server)
    fit = client.get_run(fitted_run["run_id"])
    scored = client.search_runs([fit.info.experiment_id], "tags.`anomaly_vae.command` = 'score'")
    assert client.get_run(series_run).info.run_name == "fit · series · sensor_train.csv"
    runs = {"table": fit.info.run_id, "images": image_run, "series": series_run, "score": scored[0].info.run_id}
    REVIEW_SHOTS.mkdir(parents=True, exist_ok=True)
    shots = []
    with sync_playwright() as p:
        browser, page = open_chromium(p)
        for kind, run_id in runs.items():
            names = [a.path.split("/", 1)[1] for a in client.list_artifacts(run_id, "plots")]
            assert any(n.endswith(".png") for n in names) and any(n.endswith(".html") for n in names), (kind, names)
            for name in names:
                page.goto("about:blank")  # a fresh page each time: a changed hash alone keeps the old view
                page.goto(
                    f"{server}/#/experiments/{fit.info.experiment_id}/runs/{run_id}/artifacts/plots/{name}"
                    "?workflowType=machine_learning",
                    wait_until="load",
                )
                page.get_by_text(f"plots/{name}", exact=True).first.wait_for(timeout=60_000)
                if name.endswith(".png"):
                    page.locator("img[src^='blob:'], img[src*='get-artifact']").first.wait_for(timeout=60_000)
                else:
                    page.locator("iframe.mlflow-html-iframe").first.wait_for(timeout=60_000)
                    frame = page.frame_locator("iframe.mlflow-html-iframe")
                    frame.locator(".plotly").first.wait_for(timeout=60_000)  # the script ran and drew the plot
                page.wait_for_timeout(500)
                shot = REVIEW_SHOTS / f"{kind}_{name.rsplit('.', 1)[0]}_{name.rsplit('.', 1)[1]}.png"
                page.screenshot(path=str(shot), full_page=True)
                shots.append(shot)
        browser.close()
    assert len(shots) >= 15 and all(shot.stat().st_size > 10_000 for shot in shots)
