"""The scikit-learn ``ColumnTransformer`` fitted with the model: impute, flag missing, scale, one-hot."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from pipelines.modalities.table.schema import Schema

MISSING_CATEGORY = "__missing__"


def build_preprocessor(schema: Schema) -> ColumnTransformer:
    """Numeric: median imputation + missing-value indicators. Categorical: missing as its own category,
    one-hot, unknown categories ignored (all-zero).

    Scaling is the detector's job (``VAEAnomalyDetector(preprocessing=...)``, fitted on its training
    split), so numeric columns leave here in their own units; one-hot columns stay 0/1 for the
    categorical likelihood.
    """
    numeric = Pipeline([("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True))])
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
    """For each output column of ``preprocessor``, the input column it came from.

    Read from the fitted transformers themselves (``output_indices_``, the imputer's
    ``indicator_.features_``, the encoder's ``categories_``), never parsed from feature names, which
    collide (a column ``a`` with the category ``b_x`` and a column ``a_b``).
    """
    n_out = max((s.stop for s in preprocessor.output_indices_.values()), default=0)
    sources: list[str | None] = [None] * n_out
    for name, transformer, columns in preprocessor.transformers_:
        if name not in ("num", "cat"):
            continue
        columns = [str(c) for c in columns]
        if name == "num":
            indicator = transformer.named_steps["impute"].indicator_
            out = columns + ([columns[j] for j in indicator.features_] if indicator is not None else [])
        else:
            categories = transformer.named_steps["onehot"].categories_
            out = [col for col, cats in zip(columns, categories) for _ in cats]
        where = preprocessor.output_indices_[name]
        if len(out) != where.stop - where.start:
            raise ValueError(
                f"The fitted preprocessor's {name!r} part makes {where.stop - where.start} columns, "
                f"not the {len(out)} its structure implies."
            )
        sources[where] = out
    if any(s is None for s in sources):
        raise ValueError("The fitted preprocessor has output columns from no known input column.")
    return [str(s) for s in sources]


def onehot_groups(preprocessor: ColumnTransformer, schema: Schema) -> list[list[int]]:
    """Output-column indices of each categorical input's one-hot group, for the detector's categorical likelihood."""
    sources = source_columns(preprocessor, schema)
    start = preprocessor.output_indices_["cat"].start if schema.categorical else 0
    return [[i for i in range(start, len(sources)) if sources[i] == col] for col in schema.categorical]


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
