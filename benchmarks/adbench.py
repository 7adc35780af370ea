"""ADBench novelty benchmark: the VAE detector with defaults against classical baselines.

Protocol (ADBench README in ../shared/data/adbench): for each dataset and seed,
shuffle the normal rows, fit on 60% of them (at most 50,000), test on the other
40% plus all anomalies; ROC-AUC and average precision averaged over seeds, then
over datasets. Baselines run in this process; the VAE runs once per Keras
backend in a child process (the backend is fixed at import time).

    python benchmarks/adbench.py                         # all datasets, JAX
    python benchmarks/adbench.py --datasets 6_cardio --backends jax,tensorflow,torch
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
from sklearn.ensemble import IsolationForest
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.neighbors import LocalOutlierFactor, NearestNeighbors
from sklearn.preprocessing import StandardScaler

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "adbench"
SEEDS = (0, 1, 2)
TRAIN_SHARE = 0.6
MAX_TRAIN = 50_000


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """A benchmark's per-run rows as CSV at ``path``, atomically (a temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    frame.to_csv(tmp, index=False)
    os.replace(tmp, path)


def split(X: np.ndarray, y: np.ndarray, seed: int):
    """The novelty split: train on 60% of shuffled normals, test on the rest plus all anomalies."""
    normal = np.flatnonzero(y == 0)
    normal = normal[np.random.default_rng(seed).permutation(len(normal))]
    n_train = int(TRAIN_SHARE * len(normal))
    train, test_normal = normal[:n_train], normal[n_train:]
    if len(train) > MAX_TRAIN:
        train = np.sort(np.random.default_rng(seed).choice(train, MAX_TRAIN, replace=False))
    test = np.concatenate([test_normal, np.flatnonzero(y == 1)])
    return X[train].astype(np.float64), X[test].astype(np.float64), y[test]


class KNNDistance:
    """Distance to the k-th nearest training neighbour, on standardised data."""

    def __init__(self, k: int = 5):
        self.k = k

    def fit(self, X):
        self.scaler = StandardScaler().fit(X)
        self.nn = NearestNeighbors(n_neighbors=self.k).fit(self.scaler.transform(X))
        return self

    def anomaly_score(self, X):
        return self.nn.kneighbors(self.scaler.transform(X))[0][:, -1]


class Standardised:
    """A scikit-learn outlier detector fitted on standardised data; anomaly score = -score_samples."""

    def __init__(self, model):
        self.model = model

    def fit(self, X):
        self.scaler = StandardScaler().fit(X)
        self.model.fit(self.scaler.transform(X))
        return self

    def anomaly_score(self, X):
        return -self.model.score_samples(self.scaler.transform(X))


BASELINES = {
    "kNN": lambda seed: KNNDistance(5),
    "LOF": lambda seed: Standardised(LocalOutlierFactor(novelty=True)),
    "IsolationForest": lambda seed: Standardised(IsolationForest(random_state=seed)),
}


class SeedAverage:
    """Exploration helper: the mean anomaly score of ``k`` detectors trained with different seeds."""

    def __init__(self, make, k: int, seed: int):
        self.models = [make(seed * 1000 + i) for i in range(k)]

    def fit(self, X):
        for m in self.models:
            m.fit(X)
        return self

    def anomaly_score(self, X):
        from scipy.stats import rankdata

        return np.mean([rankdata(m.anomaly_score(X)) for m in self.models], axis=0)


def vae_factory(params: dict):
    from anomaly_vae import VAEAnomalyDetector

    params = dict(params)
    k = int(params.pop("_seed_average", 1))
    if k > 1:
        return lambda seed: SeedAverage(lambda s: VAEAnomalyDetector(random_state=s, **params), k, seed)
    return lambda seed: VAEAnomalyDetector(random_state=seed, **params)


def evaluate(name: str, factory, datasets: list[Path], seeds=SEEDS, log=print, score_rules=(None,)) -> list[dict]:
    """Fit per dataset and seed; with ``score_rules``, score one fitted VAE under each rule."""
    rows = []
    for path in datasets:
        data = np.load(path)
        for seed in seeds:
            X_train, X_test, y_test = split(data["X"], data["y"], seed)
            t0 = time.perf_counter()
            model = factory(seed).fit(X_train)
            t1 = time.perf_counter()
            for rule in score_rules:
                if rule is not None:
                    model.set_params(score_rule=rule)
                t2 = time.perf_counter()
                scores = model.anomaly_score(X_test)
                t3 = time.perf_counter()
                rows.append(
                    dict(
                        method=name if rule is None else f"{name} [{rule}]",
                        dataset=path.stem,
                        seed=seed,
                        roc_auc=roc_auc_score(y_test, scores),
                        ap=average_precision_score(y_test, scores),
                        fit_s=t1 - t0,
                        score_s=t3 - t2,
                    )
                )
        last = pd.DataFrame(rows[-len(seeds) * len(score_rules) :])
        log(
            f"  {name:<20} {path.stem:<16} ROC-AUC {last.roc_auc.mean():.3f}  AP {last.ap.mean():.3f}  "
            f"fit {last.fit_s.mean():.1f}s",
            file=sys.stderr,
            flush=True,
        )
    return rows


def run_vae_backend(backend: str, datasets: list[Path], params: dict, seeds, score_rules: str = "") -> list[dict]:
    """Run the VAE rows in a child process with ``KERAS_BACKEND=backend``."""
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        "--data",
        str(datasets[0].parent),
        "--datasets",
        ",".join(p.stem for p in datasets),
        "--params",
        json.dumps(params),
        "--seeds",
        ",".join(map(str, seeds)),
        "--score-rules",
        score_rules,
    ]
    out = subprocess.run(
        cmd, env={**os.environ, "KERAS_BACKEND": backend}, stdout=subprocess.PIPE, text=True, check=True
    )
    rows = json.loads(out.stdout.strip().splitlines()[-1])
    for row in rows:
        row["method"] = row["method"].replace("VAE", f"VAE ({backend})", 1)
    return rows


def summarise(results: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    per_dataset = results.groupby(["dataset", "method"])[["roc_auc", "ap", "fit_s", "score_s"]].mean()
    means = per_dataset.groupby("method").mean()
    return per_dataset, means


def dataset_paths(folder: Path, names: list[str], parser: argparse.ArgumentParser) -> list[Path]:
    """The ``.npz`` files of ``names`` in ``folder`` (every one, in the protocol's order, when none is named); a
    missing one ends the run with a usage error naming it."""
    datasets = (
        [folder / f"{n}.npz" for n in names]
        if names
        else sorted(folder.glob("*.npz"), key=lambda p: int(p.stem.split("_")[0]))
    )
    missing = [str(p) for p in datasets if not p.is_file()]
    if missing or not datasets:
        parser.error(f"no dataset files: {missing or folder}")
    return datasets


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of ADBench .npz files")
    parser.add_argument("--datasets", default="", help="comma-separated dataset names (default: all in --data)")
    parser.add_argument(
        "--backends", default=os.environ.get("KERAS_BACKEND", "jax"), help="comma-separated Keras backends"
    )
    parser.add_argument("--params", default="{}", help="JSON of VAEAnomalyDetector parameters (default: its defaults)")
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    parser.add_argument("--score-rules", default="", help="comma-separated score rules to compare on each fitted VAE")
    parser.add_argument("--baselines", default=",".join(BASELINES), help="comma-separated, or 'none'")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/adbench.csv"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    names = [n for n in args.datasets.split(",") if n]
    datasets = dataset_paths(args.data, names, parser)
    seeds = [int(s) for s in args.seeds.split(",")]
    params = json.loads(args.params)

    if args.worker:
        rules = [r for r in args.score_rules.split(",") if r] or [None]
        print(json.dumps(evaluate("VAE", vae_factory(params), datasets, seeds, score_rules=rules)))
        return

    rows = []
    for name in [b for b in args.baselines.split(",") if b and b != "none"]:
        rows += evaluate(name, BASELINES[name], datasets, seeds)
    for backend in args.backends.split(","):
        rows += run_vae_backend(backend, datasets, params, seeds, args.score_rules)
    results = pd.DataFrame(rows)
    per_dataset, means = summarise(results)
    write_csv(results, args.out)

    pd.set_option("display.width", 200)
    print("\nROC-AUC per dataset (mean over seeds)")
    print(per_dataset["roc_auc"].unstack("method").round(3).to_string())
    print("\nAP per dataset (mean over seeds)")
    print(per_dataset["ap"].unstack("method").round(3).to_string())
    print(f"\nMean over {len(datasets)} dataset(s), seeds {seeds}; VAE parameters {params or 'defaults'}")
    print(means.round(3).to_string())
    print(f"\nper-seed rows written to {args.out}")
    baselines = [b for b in args.baselines.split(",") if b and b != "none"]
    if not names and baselines == list(BASELINES):  # the whole protocol, baselines beside: the record the docs show
        from records import write_record

        order = [p.stem for p in datasets]
        roc, ap = (per_dataset[m].unstack("method").reindex(order) for m in ("roc_auc", "ap"))
        roc.loc["mean"], ap.loc["mean"] = roc.mean(), ap.mean()
        table = roc.round(3).map("{:.3f}".format) + " / " + ap.round(3).map("{:.3f}".format)
        write_record(
            "adbench",
            table.rename_axis("dataset"),
            f"ADBench novelty protocol, {len(datasets)} datasets, seeds {seeds}: ROC-AUC / AP per dataset "
            "(mean over seeds), then their mean; the VAE with its defaults",
        )


if __name__ == "__main__":
    main()
