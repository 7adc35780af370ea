"""Shared pieces of the security and reliability tests: a small real model bundle, the CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from pipelines.demo_data import DATA_DIR

ROOT = Path(__file__).resolve().parents[2]
TRAIN, TEST = DATA_DIR / "transactions_train.csv", DATA_DIR / "transactions_test.csv"


def save_small_bundle(folder: Path) -> Path:
    """Fit preprocessing and a tiny detector on the demo data (about a second) and save the bundle."""
    from anomaly_vae import VAEAnomalyDetector
    from pipelines.modalities.table.bundle import ModelBundle
    from pipelines.modalities.table.preprocessing import build_preprocessor
    from pipelines.modalities.table.schema import Schema

    frame = pd.read_csv(TRAIN)
    schema = Schema.infer(frame, "label")
    train = schema.conform(frame[frame["label"] == 0])
    preprocessor = build_preprocessor(schema).fit(train)
    detector = VAEAnomalyDetector(epochs=2, hidden_units=(16,), latent_dim=2, n_samples=2, random_state=0)
    detector.fit(preprocessor.transform(train))
    return ModelBundle.for_training(schema, preprocessor, detector, train).save(folder)


def cli(*args, cwd, env=None, timeout=300) -> subprocess.CompletedProcess:
    """``anomaly-vae ARGS`` in a fresh process, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        timeout=timeout,
        check=False,
    )


def popen_cli(*args, cwd, env=None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", *map(str, args)],
        cwd=cwd,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )


def assert_user_error(result: subprocess.CompletedProcess, code: int, *fragments: str) -> None:
    """Exit ``code``, one ``error:`` line holding every fragment, and no traceback."""
    assert result.returncode == code, (result.returncode, result.stderr[-3000:])
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors, result.stderr[-3000:]
    for fragment in fragments:
        assert fragment in errors[-1], (fragment, errors[-1])


def save_small_image_bundle(folder: Path, images: Path) -> Path:
    """Fit a tiny image detector on the ``train/good`` images of an MVTec-style folder and save its bundle."""
    from anomaly_vae import VAEImageDetector
    from pipelines.modalities.images.bundle import ImageBundle
    from pipelines.modalities.images.files import read_images

    detector = VAEImageDetector(epochs=2, filters=(8,), dense_units=16, latent_dim=2, n_samples=2, random_state=0)
    detector.fit(read_images(images, "train").images)
    return ImageBundle(detector).save(folder)


def digit_folder(folder: Path, per_anomaly: int = 3) -> Path:
    """scikit-learn's 8 x 8 digits as an MVTec-style folder (``pipelines.demo_images``)."""
    from pipelines.demo_images import write_digit_images

    return write_digit_images(folder, per_anomaly=per_anomaly)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (relative path -> bytes): compare before and after a command."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
