"""``anomaly-vae sample``: new rows with the model's input columns, and new images as PNGs."""

import numpy as np
import pandas as pd
import pytest

from pipelines.demo_data import DATA_DIR
from pipelines.sample import run_sample
from tests.security.helpers import assert_user_error, cli

TRAIN = DATA_DIR / "transactions_train.csv"


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from anomaly_vae import VAEAnomalyDetector
    from pipelines.modalities.table.bundle import ModelBundle
    from pipelines.modalities.table.preprocessing import build_preprocessor, onehot_groups
    from pipelines.modalities.table.schema import Schema

    frame = pd.read_csv(TRAIN)
    schema = Schema.infer(frame, "label")
    train = schema.conform(frame[frame["label"] == 0])
    preprocessor = build_preprocessor(schema).fit(train)
    detector = VAEAnomalyDetector(
        epochs=10,
        hidden_units=(32,),
        latent_dim=3,
        n_samples=2,
        random_state=0,
        categorical_groups=onehot_groups(preprocessor, schema),
    )
    detector.fit(preprocessor.transform(train))
    return ModelBundle.for_training(schema, preprocessor, detector, train).save(
        tmp_path_factory.mktemp("sample") / "model"
    )


def test_sampled_rows_have_the_inputs_columns_and_valid_categories(model, tmp_path):
    out = tmp_path / "samples.parquet"
    result = run_sample(str(model), 400, str(out), random_state=3)
    samples = pd.read_parquet(out)
    train = pd.read_csv(TRAIN)
    assert result.n == len(samples) == 400 and result.kind == "rows"
    numeric = ["amount", "items", "distance_km", "latency_ms", "hour", "discount"]
    assert list(samples.columns) == numeric + ["region", "channel"]  # no label, no missing-value indicators
    assert all(samples[c].dtype == np.float64 for c in numeric) and samples[numeric].notna().all().all()
    for col in ("region", "channel"):
        assert set(samples[col].dropna()) <= set(train[col].dropna()), col
        assert samples[col].nunique() >= 2
    assert abs(samples["amount"].median() - train["amount"].median()) < train["amount"].std()
    normal = train[train["label"] == 0]
    for col, decimals in (("items", 0), ("amount", 2), ("latency_ms", 1)):  # as written in the training file
        np.testing.assert_allclose(samples[col], samples[col].round(decimals), rtol=0, atol=1e-9, err_msg=col)
        assert samples[col].between(normal[col].min(), normal[col].max()).all(), col
    again = tmp_path / "again.parquet"
    run_sample(str(model), 400, str(again), random_state=3)
    pd.testing.assert_frame_equal(pd.read_parquet(again), samples)
    prior = tmp_path / "prior.parquet"
    run_sample(str(model), 400, str(prior), random_state=3, codes="prior")
    assert not pd.read_parquet(prior).equals(samples)
    means = tmp_path / "means.csv"
    run_sample(str(model), 50, str(means), random_state=3, noise=False)
    means = pd.read_csv(means)
    assert list(means.columns) == list(samples.columns) and means["amount"].std() < samples["amount"].std()


def test_the_cli_samples_and_refuses_bad_counts_and_outputs(model, tmp_path):
    out = cli("sample", model, 20, tmp_path / "s.csv", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "sampled 20 rows" in out.stdout and len(pd.read_csv(tmp_path / "s.csv")) == 20
    for args, fragment in [
        ((model, 0, tmp_path / "x.csv"), "N (the number of samples) must be a positive integer"),
        ((model, 5, tmp_path), "is a folder"),
        ((model, 5, tmp_path / "x.npz"), "not .npz"),
        ((tmp_path / "nothing", 5, tmp_path / "x.csv"), "No model folder"),
        ((model, 5, tmp_path / "x.csv", "--codes", "posterior"), "--codes must be one of aggregate, prior"),
    ]:
        assert_user_error(cli("sample", *args, cwd=tmp_path), 2, fragment)
    assert not (tmp_path / "x.csv").exists()


def test_a_bundle_saved_before_the_support_was_kept_still_samples(model, tmp_path):
    import json
    import shutil

    from pipelines.modalities.table.bundle import ModelBundle

    old = shutil.copytree(model, tmp_path / "old")
    meta = json.loads((old / "bundle.json").read_text())
    del meta["numeric_support"]
    (old / "bundle.json").write_text(json.dumps({**meta, "format": 2}))
    bundle = ModelBundle.load(old)
    assert bundle.support is None and len(bundle.sample(10, random_state=0)) == 10
    (old / "bundle.json").write_text(
        json.dumps({**meta, "numeric_support": {"decimals": [0], "low": [0], "high": [1]}})
    )
    with pytest.raises(ValueError, match="field numeric_support describes 1"):
        ModelBundle.load(old)
