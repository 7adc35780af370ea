"""Reading CSV, Parquet and NumPy ``.npz`` tables, whole or in chunks, and writing them atomically."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".npz": "npz"}


class TableError(ValueError):
    """A table could not be read or written; the message names the file and the problem."""


def table_format(path: str | os.PathLike) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise TableError(f"{str(path)!r}: unsupported file type {suffix or '(none)'!r}; use .csv, .parquet or .npz.")
    return FORMATS[suffix]


def read_table(path: str | os.PathLike, text: bool = False) -> pd.DataFrame:
    """The whole table at ``path`` as a DataFrame (``.npz``: columns ``x0..`` from ``X``, plus ``y`` if present;
    ``text=True``: a CSV's columns as text, see :func:`iter_table`)."""
    chunks = list(iter_table(path, chunk_rows=None, text=text))
    return chunks[0] if len(chunks) == 1 else pd.concat(chunks, ignore_index=True)


def iter_table(path: str | os.PathLike, chunk_rows: int | None = 100_000, text: bool = False) -> Iterator[pd.DataFrame]:
    """Yield the table at ``path`` in DataFrames of at most ``chunk_rows`` rows (None: one frame).

    ``text=True`` reads every CSV column as text (empty cells as NaN), so a column's type cannot
    change from one chunk to the next and values are written back as they were read; scoring uses it.
    """
    path = Path(path)
    fmt = table_format(path)
    if not path.is_file():
        raise TableError(f"No such file: {str(path)!r}.")
    if path.stat().st_size == 0:
        raise TableError(f"{str(path)!r} is empty (0 bytes).")
    reader = {"csv": _iter_csv, "parquet": _iter_parquet, "npz": _iter_npz}[fmt]
    n_rows = 0
    try:
        for chunk in _iter_csv(path, chunk_rows, dtype=str) if fmt == "csv" and text else reader(path, chunk_rows):
            n_rows += len(chunk)
            yield chunk
    except TableError:
        raise
    except UnicodeDecodeError as err:
        raise TableError(
            f"{str(path)!r} is not UTF-8 text ({err.reason} at byte {err.start}); re-save it as UTF-8."
        ) from err
    except pd.errors.EmptyDataError as err:
        raise TableError(f"{str(path)!r} has no columns (empty file).") from err
    except pd.errors.ParserError as err:
        raise TableError(f"{str(path)!r} is not well-formed CSV: {err}") from err
    except (OSError, zipfile.BadZipFile, KeyError) as err:
        raise TableError(f"{str(path)!r} is not a readable {fmt} file: {err}") from err
    except Exception as err:  # pyarrow raises its own error types for corrupt Parquet
        if type(err).__module__.startswith("pyarrow"):
            raise TableError(f"{str(path)!r} is not a readable Parquet file: {err}") from err
        raise
    if n_rows == 0:
        raise TableError(f"{str(path)!r} has a header but no rows.")


def _iter_csv(path: Path, chunk_rows, dtype=None):
    if chunk_rows is None:
        yield pd.read_csv(path, encoding="utf-8", dtype=dtype)
    else:
        yield from pd.read_csv(path, encoding="utf-8", chunksize=chunk_rows, dtype=dtype)


def _iter_parquet(path: Path, chunk_rows):
    import pyarrow.parquet as pq

    names = pq.read_schema(path).names
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise TableError(
            f"{str(path)!r} has duplicate column name(s) {duplicated}; rename them so each column is unique."
        )

    if chunk_rows is None:
        yield pq.read_table(path).to_pandas()
        return
    # pre_buffer=False: with Arrow's default read-ahead cache, every row group read stays in memory
    # until the file is done (apache/arrow#39808), about 40 bytes a row on 10 columns; without it the
    # memory stays that of one row group, and a local file reads as fast or faster.
    for batch in pq.ParquetFile(path, pre_buffer=False).iter_batches(batch_size=chunk_rows):
        yield batch.to_pandas()


def _iter_npz(path: Path, chunk_rows):
    if not zipfile.is_zipfile(path):
        raise TableError(f"{str(path)!r} is not a readable npz file (an .npz file is a zip archive).")
    try:
        with np.load(path, allow_pickle=False) as data:
            if "X" not in data:
                raise TableError(f"{str(path)!r} has no array named 'X' (found {sorted(data.files)}).")
            X, y = data["X"], data["y"] if "y" in data else None
    except (ValueError, EOFError) as err:
        if isinstance(err, TableError):
            raise
        raise TableError(f"{str(path)!r} is not a readable npz file: {err}") from err
    if X.ndim != 2:
        raise TableError(f"{str(path)!r}: X must be 2-D, got shape {X.shape}.")
    if y is not None and len(y) != len(X):
        raise TableError(f"{str(path)!r}: y has {len(y)} rows but X has {len(X)}.")
    step = chunk_rows or max(len(X), 1)
    for start in range(0, len(X), step):
        frame = pd.DataFrame(X[start : start + step], columns=[f"x{i}" for i in range(X.shape[1])])
        if y is not None:
            frame["y"] = y[start : start + step]
        yield frame


def input_arrow_schema(path: str | os.PathLike, numeric: Sequence[str] = ()):
    """The Arrow types of the input columns in a Parquet output: Parquet input keeps the file's own
    schema; CSV input has its ``numeric`` (model) columns as float64 and every other column as text
    (as :func:`iter_table` with ``text=True`` reads them); ``.npz``: None, every chunk is alike."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    fmt = table_format(path)
    if fmt == "parquet":
        return pq.read_schema(path).remove_metadata()
    if fmt == "csv":
        columns = pd.read_csv(path, nrows=0, encoding="utf-8").columns
        return pa.schema([(str(c), pa.float64() if c in set(numeric) else pa.string()) for c in columns])
    return None


def _output_schema(first, input_schema):
    """The Parquet file's schema: input columns keep their input types (a column empty in the first
    chunk is not typed from it), the other columns (scores) take the first chunk's types."""
    import pyarrow as pa

    if input_schema is None:
        return first.schema
    types = {f.name: f.type for f in input_schema}
    fields = []
    for field in first.schema:
        source = field.name if field.name in types else field.name.removesuffix("_input")
        fields.append(pa.field(field.name, types.get(source, field.type)))
    return pa.schema(fields)


def write_table_atomic(
    chunks: Iterable[pd.DataFrame], path: str | os.PathLike, input_schema=None, replace: bool = True
) -> int:
    """Write DataFrame chunks to CSV or Parquet at ``path`` through a temporary file and one rename.

    Returns the number of rows written. On any error (and on Ctrl-C) the temporary file is removed
    and an existing file at ``path`` is left untouched. ``input_schema`` (Arrow) types the Parquet
    columns that come from the input, see :func:`input_arrow_schema`. ``replace=False`` never replaces an
    existing file (``FileExistsError``), even one created while the chunks are written.
    """
    from anomaly_vae.persistence.atomic import atomic_file

    path = Path(path)
    fmt = table_format(path)
    if fmt == "npz":
        raise TableError("Scores are written as .csv or .parquet, not .npz.")
    path.parent.mkdir(parents=True, exist_ok=True)
    rows, writer = 0, None
    with atomic_file(path, replace=replace) as tmp:
        try:
            for i, chunk in enumerate(chunks):
                rows += len(chunk)
                if fmt == "csv":
                    chunk.to_csv(tmp, mode="w" if i == 0 else "a", header=i == 0, index=False)
                else:
                    import pyarrow as pa
                    import pyarrow.parquet as pq

                    table = pa.Table.from_pandas(chunk, preserve_index=False)
                    if writer is None:
                        writer = pq.ParquetWriter(tmp, _output_schema(table, input_schema))
                    writer.write_table(table.cast(writer.schema))
        finally:
            if writer is not None:
                writer.close()
    return rows
