"""``anomaly-vae score`` throughput on the demo table, this checkout against another git revision.

Fits one small model with this checkout's CLI, builds a ``--rows``-row CSV by resampling the demo
test rows (mixed numeric and categorical columns, missing values), then times ``anomaly-vae score``
end to end (process start, reading, preprocessing, the network, writing) with each code tree on the
same model and file, alternating ``--repeats`` times; prints rows/s (median) per revision.
The baseline revision's code must read this checkout's model folder (same bundle format).

    .venv/bin/python benchmarks/score_throughput.py --baseline HEAD~1 --rows 1000000
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.demo_data import DATA_DIR  # noqa: E402


def run_cli(tree: Path, *args) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree), "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "jax")}
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *map(str, args)],
        cwd=tree,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--baseline", default="HEAD", help="git revision to compare against (checked out in a temporary worktree)"
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="score-throughput-") as folder:
        tmp = Path(folder)
        baseline = tmp / "baseline"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(baseline), args.baseline], check=True
        )
        try:
            run_cli(
                ROOT,
                "fit",
                DATA_DIR / "transactions_train.csv",
                "--label-column",
                "label",
                "--epochs",
                "3",
                "--verbose",
                "0",
                "--tracking-uri",
                f"sqlite:///{tmp / 'mlflow.db'}",
                "--output-dir",
                tmp / "out",
                "--run-name",
                "bench",
            )
            model = tmp / "out" / "bench" / "model"
            test = pd.read_csv(DATA_DIR / "transactions_test.csv")
            rows = test.iloc[np.random.default_rng(0).integers(0, len(test), args.rows)]
            data = tmp / "big.csv"
            rows.to_csv(data, index=False)
            times: dict[str, list[float]] = {"this checkout": [], args.baseline: []}
            for _ in range(args.repeats):
                for label, tree in ((args.baseline, baseline), ("this checkout", ROOT)):
                    times[label].append(run_cli(tree, "score", model, data, tmp / "scores.csv", "--no-log-run"))
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(baseline)], check=False)
    print(
        f"\n`anomaly-vae score`, {args.rows:,} demo rows (CSV in, CSV out), KERAS_BACKEND="
        f"{os.environ.get('KERAS_BACKEND', 'jax')}, median of {args.repeats}\n"
    )
    print("| code | seconds | rows/s |\n|---|---:|---:|")
    for label, values in times.items():
        seconds = statistics.median(values)
        print(f"| {label} | {seconds:.1f} | {args.rows / seconds:,.0f} |")


if __name__ == "__main__":
    main()
