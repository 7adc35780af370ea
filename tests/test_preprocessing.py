"""The fit pipeline's preprocessing: structure read from scikit-learn, scaling owned by the detector."""

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from anomaly_vae import VAEAnomalyDetector
from pipelines.demo_data import DATA_DIR
from pipelines.modalities.table.bundle import ModelBundle
from pipelines.modalities.table.preprocessing import build_preprocessor, onehot_groups, source_columns
from pipelines.modalities.table.schema import Schema

TRAIN, TEST = DATA_DIR / "transactions_train.csv", DATA_DIR / "transactions_test.csv"


@pytest.fixture
def colliding():
    """Categorical ``a`` holds the category ``b_x``, so one-hot names collide with column ``a_b``;
    a numeric column is named like a missing-value indicator."""
    rng = np.random.default_rng(0)
    n = 300
    return pd.DataFrame(
        {
            "missingindicator_x": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
            "x": rng.normal(size=n),
            "a": rng.choice(["b_x", "c"], n),
            "a_b": rng.choice(["x", "y", "z"], n),
        }
    )


def test_sources_and_groups_come_from_the_fitted_structure_not_from_names(colliding):
    schema = Schema.infer(colliding)
    pre = build_preprocessor(schema).fit(schema.conform(colliding))
    names = list(pre.get_feature_names_out())
    sources = source_columns(pre, schema)
    assert names.count("cat__a_b_x") == 2  # a = "b_x" and a_b = "x" get the same name
    cat = [i for i, n in enumerate(names) if n.startswith("cat__")]
    assert [sources[i] for i in cat] == ["a", "a", "a_b", "a_b", "a_b"]
    numeric = {n: s for n, s in zip(names, sources) if n.startswith("num__")}
    assert numeric == {
        "num__missingindicator_x": "missingindicator_x",
        "num__x": "x",
        "num__missingindicator_missingindicator_x": "missingindicator_x",
    }
    assert onehot_groups(pre, schema) == [cat[:2], cat[2:]]


def test_an_unseen_category_of_a_costs_at_least_the_least_likely_known_one(colliding):
    schema = Schema.infer(colliding)
    pre = build_preprocessor(schema).fit(schema.conform(colliding))
    Xt = pre.transform(schema.conform(colliding))
    det = VAEAnomalyDetector(
        epochs=5,
        hidden_units=(16,),
        latent_dim=2,
        n_samples=4,
        random_state=0,
        categorical_groups=onehot_groups(pre, schema),
    ).fit(Xt)
    bundle = ModelBundle(schema, pre, det)
    rows = colliding.head(3).copy()
    rows["a"] = ["b_x", "c", "never-seen"]
    per_input = bundle.input_feature_scores(bundle.transform(rows))
    assert (per_input.to_numpy() >= -1e-6).all()  # an NLL of one-hot groups is never negative
    assert per_input.loc[2, "a"] >= per_input.loc[[0, 1], "a"].min() - 1e-6
    assert list(per_input.columns) == schema.columns


def test_pipeline_no_longer_scales_twice_and_scores_match_within_float_noise():
    frame = pd.read_csv(TRAIN)
    schema = Schema.infer(frame, "label")
    train = schema.conform(frame[frame["label"] == 0])
    test = schema.conform(pd.read_csv(TEST))
    new = build_preprocessor(schema).fit(train)
    assert not any(
        isinstance(step, StandardScaler)
        for _, t, _ in new.transformers_
        if isinstance(t, Pipeline)
        for _, step in t.steps
    ), "scaling belongs to the detector"
    old = ColumnTransformer(  # the former layout: the pipeline standardised too, then the detector again
        [
            ("num", Pipeline([*new.named_transformers_["num"].steps, ("scale", StandardScaler())]), schema.numeric),
            ("cat", new.named_transformers_["cat"], schema.categorical),
        ],
        sparse_threshold=0.0,
    ).fit(train)
    params = dict(
        epochs=3,
        hidden_units=(16,),
        latent_dim=2,
        n_samples=4,
        random_state=0,
        categorical_groups=onehot_groups(new, schema),
    )
    scores_new = VAEAnomalyDetector(**params).fit(new.transform(train)).anomaly_score(new.transform(test))
    scores_old = VAEAnomalyDetector(**params).fit(old.transform(train)).anomaly_score(old.transform(test))
    np.testing.assert_allclose(scores_new, scores_old, rtol=1e-4, atol=1e-3)
