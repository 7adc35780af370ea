"""Type inference says what it decided and refuses what it cannot model; the CLI shows no traceback for a
user error, and flags that cannot work fail before any training or scoring (issue 15, items 5, 6, 8)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.modalities.table.schema import Schema
from tests.security.helpers import TEST, TRAIN, assert_user_error, cli, save_small_bundle

pytestmark = pytest.mark.reliability


def numbers_with_a_stray_value(n=500):
    rng = np.random.default_rng(0)
    values = [f"{v:.2f}" for v in rng.normal(1000, 100, size=n)]
    values[17] = "1,234"
    return pd.DataFrame({"amount": values, "x": rng.normal(size=n)})


def test_a_mostly_numeric_column_with_a_stray_value_is_refused_naming_row_and_value():
    with pytest.raises(ValueError) as err:
        Schema.infer(numbers_with_a_stray_value())
    message = str(err.value)
    assert "'amount' is mostly numbers" in message and "row 17" in message and "'1,234'" in message
    assert "--categorical amount" in message


def test_categorical_columns_given_explicitly_are_not_second_guessed():
    schema = Schema.infer(numbers_with_a_stray_value(40), categorical=["amount"])
    assert schema.categorical == ["amount"]


@pytest.mark.parametrize(
    "n, make, expected",
    [
        (300, lambda i: f"user-{i}", "looks like an identifier"),  # one value per row
        (3000, lambda i: f"c{i % 600}", "more than the 500 one-hot encoding allows"),  # 600 categories, 5 rows each
    ],
)
def test_identifier_like_and_very_high_cardinality_columns_are_refused(n, make, expected):
    frame = pd.DataFrame({"id": [make(i) for i in range(n)], "x": np.arange(n, dtype=float)})
    with pytest.raises(ValueError, match=expected) as err:
        Schema.infer(frame)
    assert "--drop-column id" in str(err.value)


def test_type_inference_says_what_it_decided_and_why():
    frame = pd.read_csv(TRAIN)
    schema = Schema.infer(frame, "label")
    lines = schema.describe(frame, given_categorical=False)
    assert "amount: numeric (float64 values)" in lines
    assert any(line.startswith("region: categorical (non-numeric values;") for line in lines)


def test_cli_fit_refuses_a_stray_value_and_an_identifier_before_training(tmp_path):
    data = tmp_path / "stray.csv"
    numbers_with_a_stray_value().to_csv(data, index=False)
    out = cli(
        "fit", data, "--output-dir", tmp_path / "out", "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}", cwd=tmp_path
    )
    assert_user_error(out, 2, "'amount'", "row 17")
    frame = pd.read_csv(TRAIN).assign(txn_id=lambda f: [f"t{i}" for i in range(len(f))])
    frame.to_csv(tmp_path / "ids.csv", index=False)
    out = cli("fit", tmp_path / "ids.csv", "--output-dir", tmp_path / "out", cwd=tmp_path)
    assert_user_error(out, 2, "'txn_id' looks like an identifier")
    assert not (tmp_path / "out").exists() and not (tmp_path / "m.db").exists()


@pytest.mark.parametrize(
    "args, fragment",
    [
        ((), "Missing required setting(s): ['data']"),
        (("--config", "missing.yaml"), "Config file not found: 'missing.yaml'"),
        (("--config", "unknown.yaml"), "Unknown setting(s) ['learning_rat']"),
        (("--config", "broken.yaml"), "is not valid YAML"),
    ],
)
def test_cli_fit_without_data_or_with_a_bad_config_is_one_line(tmp_path, args, fragment):
    (tmp_path / "unknown.yaml").write_text(f"data: {TRAIN}\nlearning_rat: 0.1\n")
    (tmp_path / "broken.yaml").write_text("data: [unclosed\n")
    out = cli("fit", *args, cwd=tmp_path)
    assert_user_error(out, 2, fragment)


def test_cli_flags_that_cannot_work_fail_before_training_naming_the_flag(tmp_path):
    store = f"sqlite:///{tmp_path / 'm.db'}"
    (tmp_path / "a-file").write_text("x")
    for extra, fragment in [
        (("--target-fpr", "0"), "--target-fpr must be a float in the range (0.0, 1.0)"),
        (("--target-fpr", "1.5"), "--target-fpr"),
        (("--threshold", "median"), "--threshold must be a str among"),
        (("--batch-size", "0"), "--batch-size must be"),
        (("--alias", "champion"), "--alias needs --register"),
    ]:
        out = cli("fit", TRAIN, "--output-dir", tmp_path / "out", "--tracking-uri", store, *extra, cwd=tmp_path)
        assert_user_error(out, 2, fragment)
    out = cli("fit", TRAIN, "--output-dir", tmp_path / "a-file" / "out", "--tracking-uri", store, cwd=tmp_path)
    assert_user_error(out, 2, "--output-dir", "is a file, not a folder")
    assert not (tmp_path / "out").exists() and not (tmp_path / "m.db").exists()


def test_cli_score_flags_that_cannot_work_fail_before_scoring(tmp_path):
    model = save_small_bundle(tmp_path / "model")
    (tmp_path / "a-file").write_text("x")
    test_copy = tmp_path / "test.csv"
    test_copy.write_bytes(TEST.read_bytes())
    cases = [
        ((model, TEST, tmp_path / "s.csv", "--chunk-rows", "0"), "--chunk-rows must be a positive"),
        ((model, TEST, tmp_path / "a-file" / "s.csv"), "is a file, not a folder"),
        ((model, TEST, tmp_path), "is a folder"),
        ((model, test_copy, test_copy), "is the input DATA"),
        ((model, TEST, tmp_path / "s.csv", "--fdr", "1"), "--fdr must be between 0 and 1"),
        ((model, TEST, tmp_path / "s.csv", "--recalibrate", tmp_path / "none.csv"), "--recalibrate", "no such file"),
        ((model, TEST, tmp_path / "s.parquet", "--engine", "spark", "--fdr", "0.1"), "work with --engine local"),
    ]
    for args, *fragments in cases:
        out = cli("score", *args, "--no-log-run", cwd=tmp_path)
        assert_user_error(out, 2, *fragments)
    assert test_copy.read_bytes() == TEST.read_bytes() and not (tmp_path / "s.csv").exists()
