"""Requests/s and latency of the model served by ``mlflow models serve``, against in-process scoring.

Fits a small model on the demo data, registers it, serves it with MLflow's model server on 127.0.0.1
(``pipelines.serving.served_model``: ``mlflow models serve --env-manager local``), and sends a bounded number
of sequential ``dataframe_split`` requests of 1 and 1,000 rows; the baselines in the same run are
``ModelBundle.score`` on the same batches in this process (no HTTP, no JSON), and the same with every call padded to
the large scoring shape (how every call ran before small inputs got a small shape).

    KERAS_BACKEND=jax .venv/bin/python benchmarks/serving.py --requests 200
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.demo_data import DATA_DIR  # noqa: E402


def timed(call, n: int) -> list[float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def row(label: str, batch: int, times: list[float]) -> str:
    p50, p99 = np.percentile(times, 50) * 1e3, np.percentile(times, 99) * 1e3
    return f"| {label} | {batch:,} | {len(times)} | {len(times) / sum(times):,.1f} | {batch * len(times) / sum(times):,.0f} | {p50:.1f} | {p99:.1f} |"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--requests", type=int, default=200, help="requests per batch size (the 1,000-row batch gets a tenth)"
    )
    args = parser.parse_args(argv)

    import mlflow

    from anomaly_vae.detectors.scoring import SCORE_BATCH_SIZE
    from pipelines.fit import run_fit
    from pipelines.modalities.table.bundle import ModelBundle
    from pipelines.serving import invoke, served_model
    from pipelines.settings import FitSettings, load_settings

    test = pd.read_csv(DATA_DIR / "transactions_test.csv")
    big = test.iloc[np.random.default_rng(0).integers(0, len(test), 1000)]
    with tempfile.TemporaryDirectory(prefix="serving-") as folder:
        tmp = Path(folder)
        store = f"sqlite:///{tmp / 'mlflow.db'}"
        mlflow.MlflowClient(store).create_experiment("serving", artifact_location=str(tmp / "artifacts"))
        fitted = run_fit(
            load_settings(
                FitSettings,
                None,
                dict(
                    data=str(DATA_DIR / "transactions_train.csv"),
                    label_column="label",
                    epochs=3,
                    verbose=0,
                    tracking_uri=store,
                    experiment="serving",
                    output_dir=str(tmp / "out"),
                    register="bench",
                    alias="live",
                ),
            )
        )
        bundle = ModelBundle.load(fitted.local_model)
        plan = [(test.head(1), args.requests), (big, max(1, args.requests // 10))]
        lines = []
        with served_model("models:/bench@live", store) as url:
            for frame, n in plan:
                invoke(url, frame)  # warm-up
                lines.append(row("served (HTTP, JSON)", len(frame), timed(lambda f=frame: invoke(url, f), n)))
        for frame, n in plan:
            bundle.score(frame)
            lines.append(row("in process (`ModelBundle.score`)", len(frame), timed(lambda f=frame: bundle.score(f), n)))
        # the baseline: every call padded to the large shape, as before small inputs got their own
        padded = ModelBundle.load(fitted.local_model)
        padded.detector._score_batch_size = SCORE_BATCH_SIZE
        for frame, n in plan:
            padded.score(frame)
            lines.append(
                row(
                    f"in process, padded to {SCORE_BATCH_SIZE:,} rows",
                    len(frame),
                    timed(lambda f=frame: padded.score(f), n),
                )
            )
    print(f"\nKERAS_BACKEND={os.environ.get('KERAS_BACKEND', 'jax')}, one server worker, sequential requests\n")
    print("| path | rows a request | requests | requests/s | rows/s | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print("\n".join(lines))
    from records import write_record

    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    header = ["path", "rows a request", "requests", "requests/s", "rows/s", "p50 ms", "p99 ms"]
    write_record(
        "serving",
        pd.DataFrame(cells, columns=header),
        f"The served model (MLflow's server, one worker, sequential requests) and in-process scoring, "
        f"KERAS_BACKEND={os.environ.get('KERAS_BACKEND', 'jax')}",
    )


if __name__ == "__main__":
    main()
