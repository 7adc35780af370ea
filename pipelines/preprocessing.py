"""The scikit-learn ``ColumnTransformer`` fitted with the model: impute, flag missing, scale, one-hot."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from pipelines.schema import Schema

MISSING_CATEGORY = "__missing__"


def build_preprocessor(schema: Schema) -> ColumnTransformer:
    """Numeric: median imputation + missing-value indicators + standard scaling.
    Categorical: missing as its own category, one-hot, unknown categories ignored (all-zero)."""
    numeric = Pipeline(
        [("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)), ("scale", StandardScaler())]
    )
    categorical = Pipeline(
        [
            ("impute", SimpleImputer(strategy="constant", fill_value=MISSING_CATEGORY, keep_empty_features=True)),
            ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float64)),
        ]
    )
    transformers = []
    if schema.numeric:
        transformers.append(("num", numeric, schema.numeric))
    if schema.categorical:
        transformers.append(("cat", categorical, schema.categorical))
    return ColumnTransformer(transformers, sparse_threshold=0.0, verbose_feature_names_out=True)


def source_columns(preprocessor: ColumnTransformer, schema: Schema) -> list[str]:
    """For each output column of ``preprocessor``, the input column it came from."""
    sources = []
    for out in preprocessor.get_feature_names_out():
        prefix, name = out.split("__", 1)
        if prefix == "num":
            name = name.removeprefix("missingindicator_")
            sources.append(name)
        else:
            sources.append(next(c for c in sorted(schema.categorical, key=len, reverse=True) if name.startswith(f"{c}_")))
    return sources


def onehot_groups(preprocessor: ColumnTransformer, schema: Schema) -> list[list[int]]:
    """Output-column indices of each categorical input's one-hot group, for the detector's categorical likelihood."""
    sources = source_columns(preprocessor, schema)
    return [[i for i, src in enumerate(sources) if src == col] for col in schema.categorical]


def unknown_categories(preprocessor: ColumnTransformer, frame: pd.DataFrame, schema: Schema) -> dict[str, int]:
    """Count, per categorical column, the values of ``frame`` not seen in training (they one-hot to zeros)."""
    if not schema.categorical:
        return {}
    encoder = preprocessor.named_transformers_["cat"].named_steps["onehot"]
    counts = {}
    for col, known in zip(schema.categorical, encoder.categories_):
        values = frame[col]
        unseen = values.notna() & ~values.isin(set(known))
        if unseen.any():
            counts[col] = int(unseen.sum())
    return counts
