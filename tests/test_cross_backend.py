"""A ``.keras`` file saved under any backend loads, scores the same and trains under every other, for the
tabular and the convolutional (image) VAE; one seed gives the same starting weights on every backend."""

import json
import math
import os
import subprocess
import sys

import pytest

from anomaly_vae.choices import BACKENDS


def run_worker(backend, mode, folder):
    env = {**os.environ, "KERAS_BACKEND": backend}
    out = subprocess.run(
        [sys.executable, "-m", "tests.cross_backend_worker", mode, str(folder)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.reliability
def test_keras_files_cross_backends(tmp_path):
    initial = {backend: run_worker(backend, "save", tmp_path)["initial_weight_sums"] for backend in BACKENDS}
    for backend in BACKENDS:  # one seed, one set of starting weights, whatever the backend
        assert initial[backend] == pytest.approx(initial["jax"], rel=1e-6), initial
    for backend in BACKENDS:
        report = run_worker(backend, "check", tmp_path)
        assert set(report) == {f"{b}_{kind}" for b in BACKENDS for kind in ("table", "image")}
        for source, result in report.items():  # scores equal within 1e-4 (relative, where a score exceeds 1)
            assert result["max_rel_diff"] < 1e-4, f"saved on {source}, loaded on {backend}: {result}"
            assert math.isfinite(result["loss_after_more_training"])
