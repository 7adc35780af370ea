"""One-class MNIST benchmark: the convolutional VAE detector against pixel baselines, in one run.

Protocol (``../shared/data/mnist/README.md``): for each digit c and seed, the images of c are the normal
class; shuffle them with ``np.random.default_rng(seed)``, train on the first 60%, test on the other 40% plus
every image of the other nine digits. ROC-AUC per digit, mean over digits and seeds; pixels in [0, 1].

Methods: kNN (k=5, distance to the 5th training neighbour, raw pixels), PCA reconstruction error (90% of the
variance), IsolationForest (default), the tabular ``VAEAnomalyDetector`` on flattened pixels (defaults),
``VAEImageDetector`` (defaults), and ``conv_vae_previous``: ``VAEImageDetector`` with the defaults it had before the
image defaults were first tuned (``PREVIOUS_IMAGE_DEFAULTS``, ``PREVIOUS_IMAGE_AUTO_STEPS``: issue 34's baseline), so
that quality and fit seconds of the two are measured in the same run. Baselines run in this process; the VAEs in a
child process per Keras backend and method (the backend is fixed at import time), ``--jobs`` of them at a time: with
2, the two image VAEs fit side by side, one core each, so their fit seconds compare.

    python benchmarks/images.py --backends jax --jobs 2            # the acceptance run
    python benchmarks/images.py --backends torch --digits 2,8 --seeds 0 --methods conv_vae
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import NearestNeighbors

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist" / "mnist_test.npz"
SEEDS = (0, 1, 2)
TRAIN_SHARE = 0.6


def split(y: np.ndarray, digit: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train and test indices of the one-class split, and the test labels (1 = another digit)."""
    normal = np.flatnonzero(y == digit)
    normal = normal[np.random.default_rng(seed).permutation(len(normal))]
    n_train = int(TRAIN_SHARE * len(normal))
    train, test = normal[:n_train], np.concatenate([normal[n_train:], np.flatnonzero(y != digit)])
    return train, test, (y[test] != digit).astype(int)


class KNNDistance:
    def fit(self, X):
        self.nn = NearestNeighbors(n_neighbors=5).fit(X.reshape(len(X), -1))
        return self

    def anomaly_score(self, X):
        return self.nn.kneighbors(X.reshape(len(X), -1))[0][:, -1]


class PCAReconstruction:
    def fit(self, X):
        self.pca = PCA(n_components=0.9, svd_solver="full").fit(X.reshape(len(X), -1))
        return self

    def anomaly_score(self, X):
        flat = X.reshape(len(X), -1)
        return ((flat - self.pca.inverse_transform(self.pca.transform(flat))) ** 2).sum(axis=1)


class Forest:
    def __init__(self, seed):
        self.model = IsolationForest(random_state=seed)

    def fit(self, X):
        self.model.fit(X.reshape(len(X), -1))
        return self

    def anomaly_score(self, X):
        return -self.model.score_samples(X.reshape(len(X), -1))


class Flattened:
    """The tabular detector on flattened pixels."""

    def __init__(self, model):
        self.model = model

    def fit(self, X):
        self.model.fit(X.reshape(len(X), -1))
        return self

    def anomaly_score(self, X):
        return self.model.anomaly_score(X.reshape(len(X), -1))


BASELINES = {
    "kNN": lambda seed, params: KNNDistance(),
    "PCA": lambda seed, params: PCAReconstruction(),
    "IsolationForest": lambda seed, params: Forest(seed),
}


def _dense_vae(seed, params):
    from anomaly_vae import VAEAnomalyDetector

    return Flattened(VAEAnomalyDetector(random_state=seed, **params.get("dense_vae", {})))


def _conv_vae(seed, params):
    from anomaly_vae import VAEImageDetector

    return VAEImageDetector(random_state=seed, **params.get("conv_vae", {}))


PREVIOUS_IMAGE_DEFAULTS = {"latent_dim": 16, "dense_units": 128, "score_rule": "elbo"}
"""``VAEImageDetector``'s defaults before session 7 (issue 34) changed them: the comparison the acceptance asks for."""

PREVIOUS_IMAGE_AUTO_STEPS = 2_000
"""``epochs='auto'`` of those defaults: about this many gradient steps (``IMAGE_AUTO_STEPS`` before session 10)."""


def _conv_vae_previous(seed, params):
    from anomaly_vae import VAEImageDetector

    detector = VAEImageDetector(random_state=seed, **{**PREVIOUS_IMAGE_DEFAULTS, **params.get("conv_vae_previous", {})})
    detector._auto_steps = PREVIOUS_IMAGE_AUTO_STEPS  # not a parameter: the length 'auto' had then
    return detector


VAES = {"conv_vae": _conv_vae, "conv_vae_previous": _conv_vae_previous, "dense_vae": _dense_vae}
"""In this order, so that with ``--jobs 2`` the two image VAEs fit side by side."""


def evaluate(name, factory, X, y, digits, seeds, params) -> list[dict]:
    rows = []
    for digit in digits:
        for seed in seeds:
            train, test, labels = split(y, digit, seed)
            t0 = time.perf_counter()
            model = factory(seed, params).fit(X[train])
            t1 = time.perf_counter()
            scores = model.anomaly_score(X[test])
            rows.append(
                dict(
                    method=name,
                    digit=digit,
                    seed=seed,
                    roc_auc=roc_auc_score(labels, scores),
                    fit_s=t1 - t0,
                    score_s=time.perf_counter() - t1,
                    epochs=getattr(getattr(model, "model", model), "n_epochs_", None),
                )
            )
            print(
                f"  {name:<16} digit {digit} seed {seed}: ROC-AUC {rows[-1]['roc_auc']:.3f}  fit {t1 - t0:.1f}s",
                file=sys.stderr,
                flush=True,
            )
    return rows


def run_worker(backend, method, args) -> list[dict]:
    """One VAE method on one Keras backend, in a child process; its rows."""
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        "--data",
        str(args.data),
        "--digits",
        args.digits,
        "--seeds",
        args.seeds,
        "--methods",
        method,
        "--params",
        args.params,
    ]
    env = {**os.environ, "KERAS_BACKEND": backend, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    out = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True, check=True)
    rows = json.loads(out.stdout.strip().splitlines()[-1])
    for row in rows:
        row["method"] = f"{row['method']} ({backend})"
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--backends", default="jax", help="comma-separated Keras backends for the VAEs")
    parser.add_argument("--digits", default="0,1,2,3,4,5,6,7,8,9")
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    parser.add_argument("--methods", default=",".join([*BASELINES, *VAES]))
    parser.add_argument(
        "--params", default="{}", help='JSON: {"conv_vae": {...}, "dense_vae": {...}} detector parameters'
    )
    parser.add_argument("--jobs", type=int, default=1, help="VAE worker processes at a time (one core each)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/images.csv"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.data.is_file():
        parser.error(f"no MNIST file at {args.data}")
    data = np.load(args.data)
    X, y = data["X"].astype(np.float32) / 255.0, data["y"]
    digits = [int(d) for d in args.digits.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    params = json.loads(args.params)
    methods = [m for m in args.methods.split(",") if m]
    unknown = set(methods) - set(BASELINES) - set(VAES)
    if unknown:
        parser.error(f"unknown methods {sorted(unknown)}; choose from {[*BASELINES, *VAES]}")

    if args.worker:
        rows = []
        for name in methods:
            rows += evaluate(name, VAES[name], X, y, digits, seeds, params)
        print(json.dumps(rows))
        return

    rows = []
    for name in [m for m in methods if m in BASELINES]:
        rows += evaluate(name, BASELINES[name], X, y, digits, seeds, params)
    workers = [(backend, m) for backend in args.backends.split(",") for m in methods if m in VAES]
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        for worker_rows in pool.map(lambda w: run_worker(w[0], w[1], args), workers):
            rows += worker_rows
    results = pd.DataFrame(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    results.to_csv(tmp, index=False)
    os.replace(tmp, args.out)

    per_digit = results.groupby(["method", "digit"]).roc_auc.mean().unstack("digit")
    per_digit["mean"] = results.groupby("method").roc_auc.mean()
    per_digit["fit s"] = results.groupby("method").fit_s.mean()
    order = [m for m in dict.fromkeys(results.method)]
    pd.set_option("display.width", 200)
    print(f"\nOne-class MNIST, ROC-AUC per normal digit (mean over seeds {seeds}); parameters {params or 'defaults'}")
    print(per_digit.loc[order].round(3).to_string())
    from records import write_record

    per_digit.columns = [f"digit {c}" if isinstance(c, (int, np.integer)) else c for c in per_digit.columns]
    name = "images" if digits == list(range(10)) else "images_digits_" + "_".join(map(str, digits))
    write_record(
        name,
        per_digit.loc[order].rename_axis("method"),
        f"One-class MNIST, ROC-AUC per normal digit (mean over seeds {seeds}), the mean and the mean fit seconds",
    )


if __name__ == "__main__":
    main()
