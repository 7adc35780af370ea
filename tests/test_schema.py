"""The fitted input schema: column inference and conforming new data to it."""

import numpy as np
import pandas as pd
import pytest

from pipelines.modalities.table.schema import Schema

TRAIN = pd.DataFrame({"x": [1.0, 2.0], "n": [1, 2], "c": ["a", "b"], "label": [0, 0], "id": [7, 8]})


def test_infer_splits_numeric_and_categorical():
    s = Schema.infer(TRAIN, label="label", drop=["id"])
    assert s.numeric == ["x", "n"] and s.categorical == ["c"]
    assert Schema.infer(TRAIN, label="label", drop=["id"], categorical=["n", "c"]).categorical == ["n", "c"]


def test_conform_reorders_and_drops_extra_columns():
    s = Schema.infer(TRAIN, label="label", drop=["id"])
    new = pd.DataFrame({"extra": [1], "c": ["a"], "n": ["3"], "x": [np.nan]})
    out = s.conform(new)
    assert list(out.columns) == ["x", "n", "c"]
    assert out["n"].tolist() == [3.0] and np.isnan(out["x"][0])  # numbers as strings parse; NaN kept for imputing


@pytest.mark.reliability
@pytest.mark.parametrize(
    "frame, message",
    [
        (pd.DataFrame({"x": [1.0], "n": [1]}), r"Missing column\(s\) \['c'\]"),
        (
            pd.DataFrame({"x": [1.0], "n": ["three"], "c": ["a"]}),
            "Column 'n' should be numeric but row 0 holds 'three'",
        ),
        (pd.DataFrame({"x": [np.inf], "n": [1], "c": ["a"]}), "Column 'x' holds inf at row 0"),
        (pd.DataFrame({"x": [True], "n": [1], "c": ["a"]}), "Column 'x' should be numeric but has dtype bool"),
    ],
    ids=["missing-column", "string-in-numeric", "inf", "bool-for-number"],
)
def test_conform_refuses_bad_data(frame, message):
    with pytest.raises(ValueError, match=message):
        Schema.infer(TRAIN, label="label", drop=["id"]).conform(frame)


@pytest.mark.reliability
def test_wrong_delimiter_and_unknown_columns_are_named():
    with pytest.raises(ValueError, match="delimited by something other than commas"):
        Schema.infer(pd.DataFrame({"a;b;c": ["1;2;3"]}))
    with pytest.raises(ValueError, match=r"Column\(s\) \['nope'\] not found"):
        Schema.infer(TRAIN, label="nope")
