"""``benchmarks/mixed_types.py``'s table: each kind of anomaly is what its name says, and the normal rows are not."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import mixed_types as mt  # noqa: E402


@pytest.fixture(scope="module")
def table():
    return mt.make_table(train_rows=3000, test_normal=1500, per_kind=60, seed=3)


def sold(frame):
    """Whether each row's product is one its region sells (a missing cell counts as sold)."""
    return np.array([r != r or p != p or p in mt.REGION_PRODUCTS[r] for r, p in zip(frame["region"], frame["product"])])


def test_the_table_has_every_kind_with_labels_and_missing_cells(table):
    train, test = table
    assert len(train) == 3000 and "label" not in train and "kind" not in train
    counts = test["kind"].value_counts()
    assert counts["normal"] == 1500 and all(counts[k] == 60 for k in mt.KINDS)
    assert (test["label"] == (test["kind"] != "normal")).all()
    for frame in (train, test):
        numeric_missing = frame[list(mt.NUMERIC)].isna().to_numpy().mean()
        categorical_missing = frame[list(mt.CATEGORICAL)].isna().to_numpy().mean()
        assert 0.02 < numeric_missing < 0.04 and 0.01 < categorical_missing < 0.03


def test_only_categorical_anomalies_sell_a_product_their_region_does_not(table):
    train, test = table
    assert sold(train).all() and sold(test[test["kind"] != "categorical"]).all()
    categorical = test[test["kind"] == "categorical"]
    known = categorical["region"].notna() & categorical["product"].notna()
    assert not sold(categorical[known]).any()


def test_contextual_and_dependency_anomalies_keep_ordinary_values(table):
    """Their values lie inside the normal rows' range; only the combination is rare."""
    train, test = table
    for kind, columns in (("contextual", ["income", "spend", "balance"]), ("dependency", ["spend", "age"])):
        rows = test[test["kind"] == kind]
        for col in columns:
            low, high = train[col].quantile([0.001, 0.999])
            assert rows[col].dropna().between(low, high).mean() > 0.95, (kind, col)
    contextual = test[test["kind"] == "contextual"].dropna(subset=["segment", "income"])
    typical = train.groupby("segment")["income"].median()
    gap = (contextual["income"] - contextual["segment"].map(typical)).abs()
    assert (gap > 10).mean() > 0.8  # far from what the segment it claims usually earns


def test_global_anomalies_sit_far_out_on_one_column(table):
    train, test = table
    rows = test[test["kind"] == "global"]
    z = (rows[["income", "spend", "balance", "tenure_months"]] - train.median(numeric_only=True)) / train.std(
        numeric_only=True
    )
    assert (z.abs().max(axis=1) > 2.5).mean() > 0.9


def test_the_guard_fails_a_lower_mean_or_a_wider_spread_and_passes_noise():
    import pandas as pd

    name = "VAE, pipeline defaults"
    previous = pd.DataFrame({"roc_auc": [0.80], "ap": [0.50], "ap_sd": [0.005]}, index=pd.Index([name], name="method"))

    def row(roc_auc, ap, ap_sd, seeds=3):
        return pd.DataFrame({"roc_auc": [roc_auc], "ap": [ap], "ap_sd": [ap_sd], "seeds": [seeds]}, index=[name])

    assert mt.guard(row(0.80 - mt.NOISE["roc_auc"] / 2, 0.50 - mt.NOISE["ap"] / 2, 0.005), previous)[1]
    assert not mt.guard(row(0.80, 0.50 - 2 * mt.NOISE["ap"], 0.005), previous)[1]
    assert not mt.guard(row(0.80 - 2 * mt.NOISE["roc_auc"], 0.50, 0.005), previous)[1]
    lines, ok = mt.guard(row(0.80, 0.50, mt.MAX_AP_SD * 2), previous)
    assert not ok and "BOUND BROKEN" in lines[-1]
    lines, ok = mt.guard(row(0.0, 0.0, 1.0, seeds=1), previous)  # one seed says nothing about the spread
    assert ok and "skipped" in lines[0]
