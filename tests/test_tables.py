"""Reading and atomically writing CSV, Parquet and .npz tables, including broken files."""

import numpy as np
import pandas as pd
import pytest

from pipelines.tables import TableError, iter_table, read_table, write_table_atomic

FRAME = pd.DataFrame({"a": [1.0, 2.0, np.nan], "b": ["x", "y", None]})


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_round_trip_and_chunks(tmp_path, suffix):
    path = tmp_path / f"t{suffix}"
    assert write_table_atomic([FRAME.iloc[:2], FRAME.iloc[2:]], path) == 3
    back = read_table(path)
    assert list(back.columns) == ["a", "b"] and len(back) == 3
    assert [len(c) for c in iter_table(path, chunk_rows=2)] == [2, 1]


def test_npz_gives_x_columns_and_y(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, X=np.arange(6.0).reshape(3, 2), y=np.array([0, 1, 0]))
    frame = read_table(path)
    assert list(frame.columns) == ["x0", "x1", "y"] and frame["y"].tolist() == [0, 1, 0]


@pytest.mark.reliability
@pytest.mark.parametrize(
    "name, content, message",
    [
        ("empty.csv", b"", "is empty"),
        ("header.csv", b"a,b\n", "header but no rows"),
        ("latin1.csv", "a,b\n1,caf\xe9\n".encode("latin-1"), "not UTF-8"),
        ("corrupt.parquet", b"PAR1 this is not parquet", "not a readable Parquet file"),
        ("bad.npz", b"PK\x03\x04 broken zip", "not a readable npz file"),
        ("data.txt", b"a\n1\n", "unsupported file type"),
    ],
)
def test_broken_files_raise_clear_errors(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(TableError, match=message):
        read_table(path)


@pytest.mark.reliability
def test_npz_without_x_is_refused(tmp_path):
    np.savez(tmp_path / "d.npz", data=np.zeros((2, 2)))
    with pytest.raises(TableError, match="no array named 'X'"):
        read_table(tmp_path / "d.npz")


@pytest.mark.reliability
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_failed_write_leaves_no_file_and_keeps_the_old_one(tmp_path, suffix):
    path = tmp_path / f"out{suffix}"
    write_table_atomic([FRAME], path)
    before = path.read_bytes()

    def chunks():
        yield FRAME
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        write_table_atomic(chunks(), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary file left
