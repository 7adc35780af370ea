"""``data_parallel=True``: Keras' DataParallel on JAX trains as one device does; other backends refuse at once."""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from tests.helpers import small_detector

ROOT = Path(__file__).resolve().parents[1]


def worker(mode: str, folder: Path, devices: int) -> dict:
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(ROOT)}
    env.pop("XLA_FLAGS", None)
    if devices > 1:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    out = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "multi_device_worker.py"), mode, str(folder)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_four_devices_train_as_one_and_the_model_scores_on_one_device(tmp_path):
    fitted = worker("fit", tmp_path / "det", devices=4)
    assert fitted["devices"] == 4
    np.testing.assert_allclose(fitted["sharded"], fitted["one"], atol=1e-4)  # same seed, same global batch
    loaded = worker("score", tmp_path / "det", devices=1)
    assert loaded["devices"] == 1
    np.testing.assert_allclose(loaded["scores"], fitted["scores"], rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(keras.backend.backend() == "jax", reason="JAX implements keras.distribution")
def test_data_parallel_fails_at_once_without_keras_distribution(normal_data):
    det = small_detector(data_parallel=True)
    with pytest.raises(ValueError, match="needs the JAX backend"):
        det.fit(normal_data)
    assert not hasattr(det, "vae_")


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="keras.distribution is JAX's")
def test_data_parallel_on_one_device_trains_as_without_it(normal_data):
    X = np.vstack([normal_data, normal_data[:120]])  # 256 training rows: whole batches, nothing topped up
    plain = small_detector(patience=None, validation_fraction=0.2, calibration_fraction=0.0).fit(X)
    parallel = small_detector(patience=None, validation_fraction=0.2, calibration_fraction=0.0, data_parallel=True).fit(
        X
    )
    np.testing.assert_allclose(parallel.history_["loss"], plain.history_["loss"], rtol=1e-5)
