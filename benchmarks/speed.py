"""Speed benchmark: Keras training and scoring against hand-written loops of the same network, per backend.

    python benchmarks/speed.py                       # all three backends, every part
    python benchmarks/speed.py --backends jax --skip-big --skip-pyod

For each backend (in a fresh child process, as the backend is fixed at import) it trains the
benchmark VAE (d=30 -> 64 -> 32 -> 8 -> 32 -> 64 -> 30) with ``VAE.fit`` and with the raw loop in
``raw_loops.py`` at batch 256 and 2048, alternating them, and scores 1M rows both ways; and the image VAE
(``VAEImageDetector``'s network for 28 x 28 images) against the raw JAX and torch loops of ``raw_image_loops.py``
at batch 64 and 256. It also times
``anomaly-vae --help``, time-to-first-result (import + fit on 1,000 rows + score, fresh process),
PyOD's VAE against ours at equal architecture and epochs, and scoring a generated 10M-row Parquet file
through ``anomaly-vae score`` with its peak RSS. Prints a table; writes a CSV; then compares each figure with its
bound and with the previous release's (``speed_guard.py``, ``speed_previous.csv``) and exits 1 when a bound is
broken. ``--compare CSV`` does only that last step, on a table written earlier.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
D = 30


def make_data(n: int, d: int = D, seed: int = 0) -> np.ndarray:
    """Correlated Gaussian rows: a low-rank signal plus noise, standardised."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)) @ rng.normal(size=(6, d)) + 0.3 * rng.normal(size=(n, d))
    return ((x - x.mean(0)) / x.std(0)).astype("float32")


def env(backend: str) -> dict:
    return {
        **os.environ,
        "KERAS_BACKEND": backend,
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }


# ------------------------------------------------------------------ child: one backend
def worker(backend: str, rows: int, epochs: int, score_rows: int) -> dict:
    sys.path.insert(0, str(HERE))
    from raw_loops import RAW_LOOPS

    from anomaly_vae import VAE
    from anomaly_vae.detectors.base_detector import STEPS_PER_EXECUTION
    from anomaly_vae.detectors.scoring import ScoreModel, predict_scores, score_batch_size
    from anomaly_vae.network.steps import device_description
    from anomaly_vae.persistence.model_files import compile_vae

    x = make_data(rows)
    out: dict[str, str | float] = {"backend": backend, "device": device_description()}
    for batch in (256, 2048):
        keras_times, raw_times = [], []
        vae = compile_vae(_built_vae(VAE), steps_per_execution=STEPS_PER_EXECUTION)  # as the detector does
        vae.fit(x, batch_size=batch, epochs=1, verbose=0)  # warm-up: compile
        raw_epoch, raw_scorer = RAW_LOOPS[backend](x, batch)
        raw_epoch()  # warm-up: compile
        for _ in range(epochs):  # alternate, so both see the same machine state
            t = time.perf_counter()
            vae.fit(x, batch_size=batch, epochs=1, verbose=0)
            keras_times.append(time.perf_counter() - t)
            raw_times.append(raw_epoch())
        out[f"train_b{batch}_keras_rows_s"] = rows / float(np.median(keras_times))
        out[f"train_b{batch}_raw_rows_s"] = rows / float(np.median(raw_times))
        out[f"train_b{batch}_ratio"] = _paired_ratio(keras_times, raw_times)
    xs = make_data(score_rows, seed=1)
    scorer = ScoreModel(vae)
    predict_scores(scorer, xs[:10_000])
    chunk = score_batch_size()  # the raw scorer gets the same batch as ours
    raw_scorer(xs[:10_000], chunk)
    k, r = [], []
    for _ in range(epochs):
        t = time.perf_counter()
        predict_scores(scorer, xs)
        k.append(time.perf_counter() - t)
        t = time.perf_counter()
        raw_scorer(xs, chunk)
        r.append(time.perf_counter() - t)
    out["score_keras_rows_s"] = score_rows / float(np.median(k))
    out["score_raw_rows_s"] = score_rows / float(np.median(r))
    out["score_ratio"] = _paired_ratio(r, k)  # throughput: raw time / Keras time
    return out


IMAGE_BATCHES = (64, 256)
"""Batch sizes of the image VAE's training comparison: the detector's default and a larger one."""


def make_images(n: int, seed: int = 0) -> np.ndarray:
    """Blurred random 28 x 28 x 1 images in [0, 1] (the step's speed does not depend on what they show)."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 28, 28, 1)).astype("float32")
    return ((x + np.roll(x, 1, 1) + np.roll(x, 1, 2)) / 3).astype("float32")


def image_worker(backend: str, n_images: int, epochs: int) -> dict:
    """Images per second of the image VAE's training, Keras (as ``VAEImageDetector`` builds and compiles it) against
    the raw loop of ``raw_image_loops.py`` where there is one, alternating epochs; the paired ratio of their times."""
    sys.path.insert(0, str(HERE))
    from raw_image_loops import RAW_IMAGE_LOOPS

    from anomaly_vae import VAEImageDetector
    from anomaly_vae.persistence.model_files import compile_vae

    x = make_images(n_images)
    detector = VAEImageDetector(random_state=0)
    out: dict[str, float] = {}
    for batch in IMAGE_BATCHES:
        vae = detector._build_vae(x.shape[1:], n_images, seed=0)
        vae.build((None, *x.shape[1:]))
        compile_vae(vae, detector.learning_rate, steps_per_execution=detector._steps_per_execution)
        vae.fit(x, batch_size=batch, epochs=1, verbose=0)  # warm-up: compile
        raw_epoch = RAW_IMAGE_LOOPS[backend](x, batch) if backend in RAW_IMAGE_LOOPS else None
        if raw_epoch is not None:
            raw_epoch()  # warm-up: compile
        keras_times, raw_times = [], []
        for _ in range(epochs):
            t = time.perf_counter()
            vae.fit(x, batch_size=batch, epochs=1, verbose=0)
            keras_times.append(time.perf_counter() - t)
            if raw_epoch is not None:
                raw_times.append(raw_epoch())
        out[f"image_b{batch}_keras_img_s"] = n_images / float(np.median(keras_times))
        out[f"image_b{batch}_raw_img_s"] = n_images / float(np.median(raw_times)) if raw_times else float("nan")
        out[f"image_b{batch}_ratio"] = _paired_ratio(keras_times, raw_times) if raw_times else float("nan")
    return out


def _paired_ratio(times, reference_times) -> float:
    """Median over the alternating runs of time / reference time. Each pair ran back to back, so
    a slow spell of this shared machine (it swung 1.6x within a minute) slows both of a pair;
    a ratio of the two medians mixes runs from different spells."""
    return float(np.median(np.asarray(times) / np.asarray(reference_times)))


def _built_vae(VAE):
    vae = VAE(n_features=D, latent_dim=8, hidden_units=(64, 32), seed=0)
    vae.build((None, D))
    return vae


# --------------------------------------------------------------------- parent parts
def run_worker(backend: str, args) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        backend,
        "--rows",
        str(args.rows),
        "--epochs",
        str(args.epochs),
        "--score-rows",
        str(args.score_rows),
        "--images",
        str(args.images),
    ]
    out = subprocess.run(cmd, env=env(backend), stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def time_to_first_result(backend: str) -> float:
    code = (
        "import time; t = time.perf_counter(); import numpy as np; from anomaly_vae import VAEAnomalyDetector; "
        "X = np.random.default_rng(0).normal(size=(1000, 10)); "
        "VAEAnomalyDetector(random_state=0).fit(X).anomaly_score(X); print(time.perf_counter() - t)"
    )
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env(backend), check=True, capture_output=True)
    return time.perf_counter() - t


def help_seconds() -> float:
    exe = Path(sys.executable).with_name("anomaly-vae")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "pipelines.cli"]
    times = []
    for _ in range(3):
        t = time.perf_counter()
        subprocess.run([*cmd, "--help"], env=env("jax"), check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return min(times)


PYOD_CODE = """
import json, sys, time
sys.path.insert(0, {here!r})
from speed import make_data
x = make_data({rows})
t = time.perf_counter()
if {pyod}:
    from pyod.models.vae import VAE as PyodVAE
    PyodVAE(epoch_num={epochs}, verbose=0, random_state=0).fit(x)
else:
    from anomaly_vae import VAE
    from anomaly_vae.persistence.model_files import compile_vae
    vae = VAE(n_features=x.shape[1], latent_dim=2, hidden_units=(128, 64, 32), seed=0)
    vae.build((None, x.shape[1]))
    compile_vae(vae, steps_per_execution=32).fit(x, epochs={epochs}, batch_size=128, verbose=0)
print(json.dumps(time.perf_counter() - t))
"""


def fit_seconds(backend: str, rows: int, epochs: int, pyod: bool) -> float:
    """Seconds to fit PyOD's VAE with its defaults (batch 32), or ours with PyOD's architecture
    (128-64-32, latent 2) and the same epochs at our default batch 128 (compilation included)."""
    code = PYOD_CODE.format(here=str(HERE), rows=rows, epochs=epochs, pyod=pyod)
    out = subprocess.run([sys.executable, "-c", code], env=env(backend), stdout=subprocess.PIPE, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def big_scoring(backend: str, rows: int, folder: Path) -> dict:
    """Fit a small model through the CLI, generate a ``rows``-row Parquet file, score it with ``anomaly-vae score``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    cols = [f"f{i}" for i in range(10)]
    train = folder / "train.parquet"
    pd.DataFrame(make_data(5000, 10), columns=cols).to_parquet(train)
    big = folder / "big.parquet"
    if not big.exists() or pq.ParquetFile(big).metadata.num_rows != rows:
        with pq.ParquetWriter(big, pa.schema([(c, pa.float32()) for c in cols])) as w:
            for start in range(0, rows, 1_000_000):
                n = min(1_000_000, rows - start)
                w.write_table(
                    pa.Table.from_pandas(pd.DataFrame(make_data(n, 10, seed=start), columns=cols), preserve_index=False)
                )
    cli = [sys.executable, "-m", "pipelines.cli"]
    store = f"sqlite:///{folder / 'mlflow.db'}"
    fitted = subprocess.run(
        [
            *cli,
            "fit",
            str(train),
            "--epochs",
            "3",
            "--verbose",
            "0",
            "--tracking-uri",
            store,
            "--output-dir",
            str(folder / "out"),
            "--run-name",
            "speed",
        ],
        env=env(backend),
        check=True,
        capture_output=True,
        text=True,
    )
    from fit_output import local_model

    model = local_model(fitted.stdout)
    code = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        f"subprocess.run({[*cli, 'score', str(model), str(big), str(folder / 'scores.parquet'), '--no-log-run']!r}, check=True); "
        "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env(backend),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        check=True,
    )
    seconds, rss = map(float, out.stdout.split()[-2:])
    (folder / "scores.parquet").unlink(missing_ok=True)
    return {"big_rows": rows, "big_seconds": seconds, "big_rows_s": rows / seconds, "big_peak_rss_mib": rss}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="jax,tensorflow,torch")
    parser.add_argument("--rows", type=int, default=200_704, help="training rows (a multiple of 2048)")
    parser.add_argument(
        "--epochs", type=int, default=5, help="timed epochs (and scoring runs) per method, after one warm-up"
    )
    parser.add_argument("--score-rows", type=int, default=1_000_000)
    parser.add_argument("--big-rows", type=int, default=10_000_000)
    parser.add_argument("--pyod-rows", type=int, default=50_000)
    parser.add_argument("--pyod-epochs", type=int, default=30, help="PyOD's default epoch_num")
    parser.add_argument(
        "--images", type=int, default=4096, help="images per epoch of the image VAE's comparison (0 skips it)"
    )
    parser.add_argument("--skip-big", action="store_true")
    parser.add_argument("--skip-pyod", action="store_true")
    parser.add_argument("--workdir", type=Path, default=Path("benchmarks/results/speed_work"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/speed.csv"))
    parser.add_argument(
        "--compare",
        type=Path,
        help="only check a table written earlier against the bounds and the previous release (speed_guard.py)",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        row = worker(args.worker, args.rows, args.epochs, args.score_rows)
        if args.images:
            row.update(image_worker(args.worker, args.images, args.epochs))
        print(json.dumps(row))
        return
    if args.compare:
        sys.exit(report(pd.read_csv(args.compare, index_col="backend")))

    pyod_s = None
    if not args.skip_pyod:
        print(f"PyOD VAE defaults, {args.pyod_rows:,} rows, {args.pyod_epochs} epochs ...", file=sys.stderr, flush=True)
        pyod_s = fit_seconds("torch", args.pyod_rows, args.pyod_epochs, pyod=True)
    rows = []
    for backend in args.backends.split(","):
        print(f"[{backend}] training and scoring ...", file=sys.stderr, flush=True)
        row = run_worker(backend, args)
        row["ttfr_s"] = time_to_first_result(backend)
        if pyod_s is not None:
            row.update(pyod_fit_s=pyod_s, ours_fit_s=fit_seconds(backend, args.pyod_rows, args.pyod_epochs, pyod=False))
        if not args.skip_big:
            print(f"[{backend}] scoring {args.big_rows:,} rows from Parquet ...", file=sys.stderr, flush=True)
            row.update(big_scoring(backend, args.big_rows, args.workdir))
        rows.append(row)
    table = pd.DataFrame(rows).set_index("backend")
    if "pyod_fit_s" in table:
        table["pyod_speedup"] = table["pyod_fit_s"] / table["ours_fit_s"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out)
    pd.set_option("display.width", 250)
    print(
        f"\nTraining: rows/s per epoch (median of {args.epochs}), {args.rows:,} rows, d={D}; "
        "ratio = median over the back-to-back pairs of Keras time / raw time"
    )
    print(table[[c for c in table if c.startswith("train")]].round(2).to_string())
    print(
        f"\nScoring {args.score_rows:,} rows: rows/s; ratio = median over the pairs of Keras throughput / raw in-graph throughput"
    )
    print(table[["score_keras_rows_s", "score_raw_rows_s", "score_ratio"]].round(2).to_string())
    if any(c.startswith("image_") for c in table):
        print(
            f"\nImage VAE training (28 x 28 x 1, VAEImageDetector's network): images/s per epoch (median of "
            f"{args.epochs}), {args.images:,} images; ratio = median over the pairs of Keras time / raw time "
            "(raw loops in JAX and torch)"
        )
        print(table[[c for c in table if c.startswith("image_")]].round(2).to_string())
    extra = [
        c
        for c in ("device", "ttfr_s", "pyod_fit_s", "ours_fit_s", "pyod_speedup", "big_rows_s", "big_peak_rss_mib")
        if c in table
    ]
    print("\nTime to first result (s), PyOD comparison, 10M-row scoring")
    print(table[extra].round(2).to_string())
    print(f"\n`anomaly-vae --help`: {help_seconds():.2f} s")
    print(f"CSV written to {args.out}")
    sys.exit(report(table))


def report(table: pd.DataFrame) -> int:
    """Print each figure against its bound and the previous release (speed_guard.py); 1 when a bound is broken."""
    sys.path.insert(0, str(HERE))
    from speed_guard import PREVIOUS, guard

    lines, ok = guard(table)
    print(f"\nBounds, and the previous release's figures ({PREVIOUS.name}):")
    print("\n".join(lines))
    print("every bound met" if ok else "A BOUND IS BROKEN")
    return 0 if ok else 1


if __name__ == "__main__":
    main()
