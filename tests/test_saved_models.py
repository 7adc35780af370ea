"""Model folders saved by earlier code still load, and score as they did (``tests/fixtures/saved_by_5eefd4c``)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.backend  # the model's maths: `make test` runs it on every backend

FIXTURES = Path(__file__).parent / "fixtures" / "saved_by_5eefd4c"
EXPECTED = json.loads((FIXTURES / "expected_scores.json").read_text())


def sensor_series() -> pd.DataFrame:
    t = pd.date_range("2026-01-01", periods=400, freq="min")
    v = np.sin(np.arange(400) / 10) + 0.05 * np.random.default_rng(0).normal(size=400)
    return pd.DataFrame({"timestamp": t, "value": v})


def scores_of(kind: str, tmp_path: Path) -> np.ndarray:
    from pipelines.modalities import load_bundle

    bundle = load_bundle(FIXTURES / kind)
    if kind == "table":
        frame = pd.read_csv(Path(__file__).parents[1] / "data" / "transactions_test.csv").head(20)
        return bundle.score(frame)["anomaly_score"].to_numpy()
    if kind == "images":
        from pipelines.demo_images import write_digit_images
        from pipelines.modalities.images.files import read_images

        found = read_images(write_digit_images(tmp_path / "digits", per_anomaly=3), "test")
        return bundle.detector.anomaly_score(found.images[:6])
    return bundle.score(sensor_series())["anomaly_score"].to_numpy()[::20]


@pytest.mark.parametrize("kind", ["table", "images", "series"])
def test_a_model_folder_saved_by_earlier_code_loads_and_scores_as_it_did(kind, tmp_path):
    np.testing.assert_allclose(scores_of(kind, tmp_path), EXPECTED[kind], rtol=1e-4, atol=1e-4)
