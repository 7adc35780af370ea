"""The input schema fitted with the model: which columns, in what order, numeric or categorical.

``Schema.conform`` checks new data against it before scoring: columns are
reordered by name, extra columns dropped, missing columns and changed dtypes refused
with a message naming the column.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd


@dataclass
class Schema:
    numeric: list[str]
    categorical: list[str]
    label: str | None = None
    dropped: list[str] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        return self.numeric + self.categorical

    @classmethod
    def infer(
        cls,
        df: pd.DataFrame,
        label: str | None = None,
        drop: list[str] | None = None,
        categorical: list[str] | None = None,
    ) -> Schema:
        """Split the feature columns into numeric and categorical (given, or inferred from dtype)."""
        drop = list(drop or [])
        named = [label] if label else []
        missing = [c for c in named + drop + list(categorical or []) if c not in df.columns]
        if missing:
            raise ValueError(f"Column(s) {missing} not found; the data has {list(df.columns)}.")
        features = [c for c in df.columns if c not in set(drop) | set(named)]
        if not features:
            raise ValueError("No feature columns left after removing the label and dropped columns.")
        if len(df.columns) == 1 and isinstance(df.columns[0], str) and any(s in df.columns[0] for s in ";\t|"):
            raise ValueError(
                f"The file has a single column named {df.columns[0]!r}: is it delimited by something other than commas?"
            )
        if categorical is None:
            categorical = [c for c in features if not _is_numeric(df[c])]
            for col in categorical:
                _refuse_mostly_numeric(df[col], col)
        for col in categorical:
            _refuse_high_cardinality(df[col], col)
        numeric = [c for c in features if c not in set(categorical)]
        return cls(
            numeric=[str(c) for c in numeric], categorical=[str(c) for c in categorical], label=label, dropped=drop
        )

    def conform(self, df: pd.DataFrame) -> pd.DataFrame:
        """``df`` restricted to the schema's columns, in its order, with numeric columns as float64.

        NaN is kept (the imputer handles it); inf, missing columns and non-numeric
        values in numeric columns raise ``ValueError`` naming the column and row.
        """
        missing = [c for c in self.columns if c not in df.columns]
        if missing:
            raise ValueError(f"Missing column(s) {missing}: the model was fitted on {self.columns}.")
        out = df[self.columns].copy()
        for col in self.numeric:
            out[col] = _to_float(out[col], col)
        for col in self.categorical:
            values = out[col].astype(object)
            out[col] = values.where(values.notna(), None).map(category_text)
        return out

    def describe(self, df: pd.DataFrame, given_categorical: bool) -> list[str]:
        """One line per feature column: what type inference decided, and why."""
        lines = [f"{c}: numeric ({df[c].dtype} values)" for c in self.numeric]
        why = "named by --categorical" if given_categorical else "non-numeric values"
        lines += [f"{c}: categorical ({why}; {df[c].nunique()} categories)" for c in self.categorical]
        return lines

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Schema:
        return cls(**data)


MOSTLY_NUMERIC = 0.9
"""A text column whose values parse as numbers this often is refused as categorical: it is a numeric
column with a few stray values (``"1,234"``), which would otherwise become hundreds of categories."""

MAX_CATEGORIES = 500
"""A categorical column with more distinct values is refused before one-hot encoding allocates anything."""

IDENTIFIER_SHARE, IDENTIFIER_MIN = 0.5, 50
"""A categorical column with more than ``IDENTIFIER_MIN`` distinct values, at least ``IDENTIFIER_SHARE``
of its non-missing rows, looks like an identifier (one value per row) and is refused."""


def _refuse_mostly_numeric(series: pd.Series, name: str) -> None:
    values = series.dropna()
    if values.empty or pd.api.types.is_bool_dtype(series):
        return
    parsed = pd.to_numeric(values.astype(str).str.strip(), errors="coerce")
    share = parsed.notna().mean()
    if share >= MOSTLY_NUMERIC:
        bad = parsed.isna()
        row = bad.idxmax()
        raise ValueError(
            f"Column {name!r} is mostly numbers ({int((~bad).sum())} of {len(values)} values) but row {row} holds "
            f"{series[row]!r} ({int(bad.sum())} non-numeric value(s) in all). Fix those values to use it as a "
            f"number, or pass --categorical {name} to treat it as categories."
        )


def _refuse_high_cardinality(series: pd.Series, name: str) -> None:
    values = series.dropna()
    distinct = values.nunique()
    if distinct > IDENTIFIER_MIN and distinct >= IDENTIFIER_SHARE * len(values):
        raise ValueError(
            f"Column {name!r} looks like an identifier ({distinct} distinct values in {len(values)} rows): one-hot "
            f"encoding it would learn nothing. Drop it with --drop-column {name}."
        )
    if distinct > MAX_CATEGORIES:
        raise ValueError(
            f"Column {name!r} has {distinct} categories, more than the {MAX_CATEGORIES} one-hot encoding allows. "
            f"Drop it with --drop-column {name}, or group its rare values first."
        )


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _to_float(series: pd.Series, name: str) -> pd.Series:
    if pd.api.types.is_bool_dtype(series) or not (
        pd.api.types.is_numeric_dtype(series) or series.dtype == object or pd.api.types.is_string_dtype(series)
    ):
        raise ValueError(f"Column {name!r} should be numeric but has dtype {series.dtype}.")
    values = pd.to_numeric(series, errors="coerce").astype(np.float64)
    bad = values.isna() & series.notna()
    if bad.any():
        row = bad.idxmax()
        raise ValueError(
            f"Column {name!r} should be numeric but row {row} holds {series[row]!r} "
            f"({int(bad.sum())} non-numeric value(s) in all)."
        )
    inf = np.isinf(values.to_numpy())
    if inf.any():
        row = values.index[np.argmax(inf)]
        raise ValueError(f"Column {name!r} holds inf at row {row} ({int(inf.sum())} inf value(s) in all).")
    return values


def category_text(value) -> str | None:
    """A categorical value as the text the one-hot encoder sees: a whole float is written as an
    integer, so ``2000.0`` (a numeric column with gaps) and ``"2000"`` (read as text) are one category."""
    if value is None:
        return None
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)
