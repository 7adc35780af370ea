"""Rows/s of ``anomaly-vae score --engine spark`` (Spark ``local[N]``) against the single-process ``score``.

Fits and registers a small model on generated 10-column data, writes a ``--rows``-row Parquet file, and times
both commands end to end on it (process start, Spark start-up, reading, scoring, writing), in the same run.
Prints rows/s, rows/s per core, and what that implies for one billion rows in an hour.

    KERAS_BACKEND=jax .venv/bin/python benchmarks/spark_scale.py --rows 10000000 --cores 2
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def cli(*args) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "jax")}
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *map(str, args)],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def main(argv=None) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--cores", type=int, default=2, help="Spark local[N]")
    args = parser.parse_args(argv)

    cols = [f"f{i}" for i in range(10)]
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="spark-scale-") as folder:
        tmp = Path(folder)
        store = f"sqlite:///{tmp / 'mlflow.db'}"
        pd.DataFrame(rng.normal(size=(5000, 10)), columns=cols).to_parquet(tmp / "train.parquet")
        cli(
            "fit",
            tmp / "train.parquet",
            "--epochs",
            "3",
            "--verbose",
            "0",
            "--tracking-uri",
            store,
            "--output-dir",
            tmp / "out",
            "--register",
            "scale",
            "--alias",
            "live",
        )
        big = tmp / "big.parquet"
        with pq.ParquetWriter(big, pa.schema([(c, pa.float64()) for c in cols])) as writer:
            for start in range(0, args.rows, 1_000_000):
                n = min(1_000_000, args.rows - start)
                writer.write_table(
                    pa.Table.from_pandas(pd.DataFrame(rng.normal(size=(n, 10)), columns=cols), preserve_index=False)
                )
        single = cli(
            "score", "models:/scale@live", big, tmp / "single.parquet", "--tracking-uri", store, "--no-log-run"
        )
        spark = cli(
            "score",
            "models:/scale@live",
            big,
            tmp / "spark.parquet",
            "--engine",
            "spark",
            "--spark-master",
            f"local[{args.cores}]",
            "--tracking-uri",
            store,
        )
        shutil.rmtree(tmp / "spark.parquet", ignore_errors=True)
    per_core = args.rows / spark / args.cores
    print(
        f"\n{args.rows:,} rows x 10 columns (Parquet), KERAS_BACKEND={os.environ.get('KERAS_BACKEND', 'jax')}, "
        f"{os.cpu_count()} CPUs\n"
    )
    print("| engine | seconds | rows/s | rows/s per core |\n|---|---:|---:|---:|")
    print(
        f"| single process (`anomaly-vae score`) | {single:.1f} | {args.rows / single:,.0f} | {args.rows / single:,.0f} |"
    )
    print(
        f"| Spark `local[{args.cores}]` (`--engine spark`) | {spark:.1f} | {args.rows / spark:,.0f} | {per_core:,.0f} |"
    )
    print(
        f"\n1 billion rows in an hour need {1e9 / 3600:,.0f} rows/s: about {1e9 / 3600 / per_core:,.0f} executor cores "
        f"at this per-core rate (start-up included, so an underestimate of the rate at scale)."
    )


if __name__ == "__main__":
    main()
