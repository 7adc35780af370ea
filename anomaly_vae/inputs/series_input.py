"""A time series as the detectors take it, checked: a table with a time column and value columns, or an array.

Nothing is reordered, filled or resampled here: an unsorted or duplicated timestamp, an irregular step (a gap), a
non-numeric value column and a NaN each get a ``ValueError`` naming the row (with its timestamp) and the column, and
saying what to do (sort, drop duplicates, resample with pandas). A series is regular when every step between two
timestamps is the same: a window of ``w`` points must always span the same time for the network to learn its shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class Series:
    """A checked series: ``values`` ``(T, channels)`` float64, the value ``columns``' names, the timestamps ``times``
    (None for an array or a table without a time column) and their regular ``step`` (None likewise)."""

    values: np.ndarray
    columns: list[str]
    times: pd.Index | None = None
    step: object = None


def check_series(X, time_column: str | None = None, what: str = "the series") -> Series:
    """``X`` (array ``(T,)`` / ``(T, channels)`` or DataFrame) as a :class:`Series`, or ``ValueError`` naming the first
    problem; ``time_column`` names the DataFrame's time column (its other columns are the values)."""
    if isinstance(X, pd.Series):
        X = X.to_frame()
    if isinstance(X, pd.DataFrame):
        return _check_frame(X, time_column, what)
    if time_column is not None:
        raise ValueError(
            f"time_column={time_column!r} needs a table (a pandas DataFrame) with that column; got {type(X).__name__}."
        )
    values = np.asarray(X)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2:
        raise ValueError(f"A series is an array (points,) or (points, channels), or a table; got shape {values.shape}.")
    if values.dtype.kind not in "biuf":
        raise ValueError(f"A series holds numbers; got an array of dtype {values.dtype}.")
    values = values.astype(np.float64)
    _check_values(values, [f"x{i}" for i in range(values.shape[1])], None, what)
    return Series(values, [f"x{i}" for i in range(values.shape[1])])


def _check_frame(frame: pd.DataFrame, time_column: str | None, what: str) -> Series:
    columns = [str(c) for c in frame.columns]
    times, step = None, None
    if time_column is not None:
        if time_column not in columns:
            raise ValueError(f"{what} has no time column {time_column!r}; its columns are {columns}.")
        times, step = _check_times(frame[frame.columns[columns.index(time_column)]], time_column, what)
        frame = frame.drop(columns=frame.columns[columns.index(time_column)])
        columns = [str(c) for c in frame.columns]
    if not columns:
        raise ValueError(f"{what} has no value column beside the time column {time_column!r}.")
    for name, column in zip(columns, frame.columns):
        dtype = frame[column].dtype
        if not (pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype)):
            raise ValueError(
                f"{what}: value column {name!r} is not numeric (dtype {dtype}); a series holds numbers "
                "(drop the column, or name it as the time column)."
            )
    values = frame.to_numpy(dtype=np.float64, na_value=np.nan)
    _check_values(values, columns, times, what)
    return Series(values, columns, times, step)


STEP_RTOL = 1e-9
"""Float timestamps (0.1, 0.2, 0.30000000000000004, ...) step alike when their steps agree to this relative
tolerance; integer and date steps must be equal. One rule for the input check and for a fitted detector's step."""


def same_step(a, b) -> bool:
    """Whether two steps of a series are the same (:data:`STEP_RTOL` for float steps, exactly otherwise)."""
    if isinstance(a, (float, np.floating)) or isinstance(b, (float, np.floating)):
        try:
            return bool(np.isclose(float(a), float(b), rtol=STEP_RTOL, atol=0))
        except (TypeError, ValueError):
            return False
    return a == b


def _parse_times(column: pd.Series, name: str, what: str) -> pd.Index:
    """Numbers and datetimes as they are; text as ISO 8601 dates, where offsets that differ from row to row (a
    local time across a daylight-saving change) are read as the instants they name, in UTC."""
    if pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_datetime64_any_dtype(column.dtype):
        return pd.Index(column)
    try:
        return pd.Index(pd.to_datetime(column, format="ISO8601"))
    except (ValueError, TypeError):
        pass
    try:
        return pd.Index(pd.to_datetime(column, format="ISO8601", utc=True))
    except (ValueError, TypeError) as err:
        raise ValueError(f"{what}: time column {name!r} holds neither numbers nor dates ({err}).") from None


def _check_times(column: pd.Series, name: str, what: str):
    """Timestamps as a pandas Index, checked strictly increasing and regular; and their step. Time-zone-aware
    timestamps are compared as instants (in UTC), so a local clock's daylight-saving change is no gap."""
    times = _parse_times(column, name, what)
    missing = np.flatnonzero(pd.isna(times))
    if len(missing):
        raise ValueError(f"{what}: time column {name!r} is empty at row {missing[0]} ({len(missing)} such rows).")
    if len(times) < 2:
        return times, None
    clock = times
    if isinstance(times, pd.DatetimeIndex) and times.tz is not None:
        clock = times.tz_convert("UTC").tz_localize(None)
    steps = np.diff(clock.to_numpy())
    zero = steps == steps.dtype.type(0)
    if zero.any():
        row = int(np.argmax(zero)) + 1
        raise ValueError(
            f"{what}: timestamp {times[row]} appears twice, at rows {row - 1} and {row}; drop or "
            "aggregate the duplicates first (for example df.groupby(time_column).mean())."
        )
    backwards = steps < steps.dtype.type(0)
    if backwards.any():
        row = int(np.argmax(backwards)) + 1
        raise ValueError(
            f"{what} is not in time order: row {row} ({times[row]}) comes before row {row - 1} "
            f"({times[row - 1]}). Sort it first (df.sort_values({name!r})); nothing is reordered here."
        )
    step = pd.Series(steps).median()
    irregular = ~np.isclose(steps, step, rtol=STEP_RTOL, atol=0) if steps.dtype.kind == "f" else steps != step
    if irregular.any():
        row = int(np.argmax(irregular)) + 1
        raise ValueError(
            f"{what} is not regular: {times[row - 1]} to {times[row]} (rows {row - 1}-{row}) is a step of "
            f"{steps[row - 1]} where the series steps by {step} ({int(irregular.sum())} such steps). A "
            "window must span the same time everywhere: resample first, for example "
            "df.set_index(time_column).resample(step).mean().interpolate()."
        )
    return times, step


def _check_values(values: np.ndarray, columns: list[str], times, what: str) -> None:
    finite = np.isfinite(values)
    if finite.all():
        return
    row, col = (int(i) for i in np.argwhere(~finite)[0])
    kind = "NaN" if np.isnan(values[row, col]) else "inf"
    when = f" (time {times[row]})" if times is not None else ""
    raise ValueError(
        f"{what} has {kind} at row {row}{when}, column {columns[col]!r} ({int((~finite).sum())} such "
        "values in all): fill the gaps first, for example df.interpolate(), or drop that stretch."
    )
