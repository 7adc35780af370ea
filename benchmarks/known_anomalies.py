"""Known anomalies: does a VAE told about a few anomalies find the others better?

Protocol (issue 33, part 2), on the ADBench DEV sets (../shared/data/adbench): for each dataset and seed, the
normal rows are split as in the novelty protocol (60% to train, at most 50,000; the other 40% to test), and 5% of
the anomalies (at least 5) are labelled into the training rows; the test set is the test normal rows plus the other
anomalies. ROC-AUC and AP are measured on that test set, for, in the same run:

- ``VAE + labels``: ``VAEAnomalyDetector(use_labels=True).fit(X_train, y_train)``, every other parameter at its
  default;
- ``VAE``: the same detector without the labels (trained on the normal training rows, as in ``adbench.py``);
- ``kNN``: distance to the 5th neighbour among the normal training rows, standardised (``adbench.py``'s baseline);
- ``HistGradientBoosting``: ``HistGradientBoostingClassifier`` (scikit-learn's defaults) on the same labelled rows,
  its predicted anomaly probability as the score.

A second table ("one cluster") asks whether labels about one kind of anomaly help or hurt on the others: the
anomalies are clustered (k-means, 3 clusters, on standardised features), the labelled 5% are drawn from the
largest cluster only, and the test anomalies are those of the other clusters.

    python benchmarks/known_anomalies.py                     # all 15 datasets, seeds 0-2, JAX (about 25 min)
    python benchmarks/known_anomalies.py --datasets 6_cardio,38_thyroid --seeds 0
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from adbench import DEFAULT_DATA, MAX_TRAIN, SEEDS, TRAIN_SHARE, KNNDistance, dataset_paths, write_csv  # noqa: E402

LABELLED_SHARE = 0.05
MIN_LABELLED = 5
N_CLUSTERS = 3
METHODS = ("VAE + labels", "VAE", "kNN", "HistGradientBoosting")
PROTOCOLS = ("all kinds", "one cluster")


def split(X: np.ndarray, y: np.ndarray, seed: int, one_cluster: bool):
    """Training rows and labels (normal 0, labelled anomaly 1), test rows and labels; None when the one-cluster
    split has no other cluster to test on."""
    rng = np.random.default_rng(seed)
    normal = np.flatnonzero(y == 0)
    normal = normal[rng.permutation(len(normal))]
    n_train = int(TRAIN_SHARE * len(normal))
    train, test_normal = normal[:n_train], normal[n_train:]
    if len(train) > MAX_TRAIN:
        train = np.sort(np.random.default_rng(seed).choice(train, MAX_TRAIN, replace=False))
    anomalies = np.flatnonzero(y == 1)
    n_labelled = max(MIN_LABELLED, int(np.ceil(LABELLED_SHARE * len(anomalies))))
    if one_cluster:
        features = StandardScaler().fit_transform(X[anomalies].astype(np.float64))
        cluster = KMeans(N_CLUSTERS, n_init=10, random_state=seed).fit_predict(features)
        largest = np.bincount(cluster, minlength=N_CLUSTERS).argmax()
        pool, test_anomalies = anomalies[cluster == largest], anomalies[cluster != largest]
        if len(test_anomalies) == 0:
            return None
    else:
        pool = anomalies
    pool = pool[rng.permutation(len(pool))]
    labelled = pool[: min(n_labelled, len(pool) - (0 if one_cluster else 1))]
    if not one_cluster:
        test_anomalies = pool[len(labelled) :]
    train_rows = np.concatenate([train, labelled])
    test_rows = np.concatenate([test_normal, test_anomalies])
    y_train = np.r_[np.zeros(len(train)), np.ones(len(labelled))].astype(int)
    y_test = np.r_[np.zeros(len(test_normal)), np.ones(len(test_anomalies))].astype(int)
    return X[train_rows].astype(np.float64), y_train, X[test_rows].astype(np.float64), y_test


def fit_and_score(method: str, X_train, y_train, X_test, seed: int, params: dict) -> np.ndarray:
    from anomaly_vae import VAEAnomalyDetector

    normal = X_train[y_train == 0]
    if method == "VAE + labels":
        return (
            VAEAnomalyDetector(use_labels=True, random_state=seed, **params).fit(X_train, y_train).anomaly_score(X_test)
        )
    if method == "VAE":
        return VAEAnomalyDetector(random_state=seed, **params).fit(normal).anomaly_score(X_test)
    if method == "kNN":
        return KNNDistance(5).fit(normal).anomaly_score(X_test)
    if method == "HistGradientBoosting":
        model = HistGradientBoostingClassifier(random_state=seed).fit(X_train, y_train)
        return model.predict_proba(X_test)[:, 1]
    raise ValueError(method)


def evaluate(datasets: list[Path], seeds, methods, protocols, params: dict) -> list[dict]:
    import warnings

    rows = []
    for path in datasets:
        data = np.load(path)
        for protocol in protocols:
            for seed in seeds:
                parts = split(data["X"], data["y"], seed, one_cluster=protocol == "one cluster")
                if parts is None:
                    print(f"{path.stem} ({protocol}, seed {seed}): one cluster only, skipped", flush=True)
                    continue
                X_train, y_train, X_test, y_test = parts
                for method in methods:
                    t0 = time.perf_counter()
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # few calibration rows on the small sets: not measured here
                        scores = fit_and_score(method, X_train, y_train, X_test, seed, params)
                    rows.append(
                        dict(
                            protocol=protocol,
                            method=method,
                            dataset=path.stem,
                            seed=seed,
                            n_labelled=int(y_train.sum()),
                            n_test_anomalies=int(y_test.sum()),
                            roc_auc=roc_auc_score(y_test, scores),
                            ap=average_precision_score(y_test, scores),
                            seconds=time.perf_counter() - t0,
                        )
                    )
                    r = rows[-1]
                    print(
                        f"{path.stem:16s} {protocol:11s} seed {seed} {method:21s} ROC-AUC {r['roc_auc']:.3f} "
                        f"AP {r['ap']:.3f} ({r['n_labelled']} labelled, {r['seconds']:.1f} s)",
                        flush=True,
                    )
    return rows


def tables(results: pd.DataFrame, order: list[str], methods) -> dict[str, pd.DataFrame]:
    """Per protocol: ROC-AUC / AP per dataset (mean over seeds) and their mean over datasets."""
    out = {}
    for protocol, part in results.groupby("protocol", sort=False):
        per = part.groupby(["dataset", "method"])[["roc_auc", "ap"]].mean()
        roc, ap = (
            per[m].unstack("method").reindex(index=[d for d in order if d in per.index], columns=methods)
            for m in ("roc_auc", "ap")
        )
        roc.loc["mean"], ap.loc["mean"] = roc.mean(), ap.mean()
        out[protocol] = (roc.round(3).map("{:.3f}".format) + " / " + ap.round(3).map("{:.3f}".format)).rename_axis(
            "dataset"
        )
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of ADBench .npz files")
    parser.add_argument("--datasets", default="", help="comma-separated dataset names (default: all in --data)")
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated, of: " + ", ".join(METHODS))
    parser.add_argument("--protocols", default=",".join(PROTOCOLS), help="comma-separated, of: " + ", ".join(PROTOCOLS))
    parser.add_argument("--params", default="{}", help="JSON of VAEAnomalyDetector parameters for both VAEs")
    parser.add_argument("--margin", type=float, help="exploration: known_anomalies.MARGIN for this run")
    parser.add_argument("--share", type=float, help="exploration: known_anomalies.SHARE for this run")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/known_anomalies.csv"))
    args = parser.parse_args(argv)

    names = [n for n in args.datasets.split(",") if n]
    datasets = dataset_paths(args.data, names, parser)
    methods = [m for m in args.methods.split(",") if m]
    protocols = [p for p in args.protocols.split(",") if p]
    unknown = sorted(set(methods) - set(METHODS)) + sorted(set(protocols) - set(PROTOCOLS))
    if unknown:
        parser.error(f"unknown method or protocol: {unknown}")
    seeds = [int(s) for s in args.seeds.split(",")]
    params = json.loads(args.params)
    from anomaly_vae.network import known_anomalies

    if args.margin is not None:
        known_anomalies.MARGIN = args.margin
    if args.share is not None:
        known_anomalies.SHARE = args.share
    print(f"known anomalies: margin {known_anomalies.MARGIN}, share {known_anomalies.SHARE}", flush=True)

    t0 = time.perf_counter()
    results = pd.DataFrame(evaluate(datasets, seeds, methods, protocols, params))
    write_csv(results, args.out)
    made = tables(results, [p.stem for p in datasets], methods)
    pd.set_option("display.width", 250)
    for protocol, table in made.items():
        print(f"\n{protocol}: ROC-AUC / AP on the test anomalies, mean over seeds {seeds}")
        print(table.to_string())
    print(
        f"\nper-seed rows written to {args.out}; {time.perf_counter() - t0:.0f} s; backend {os.environ['KERAS_BACKEND']}"
    )
    if (
        not names
        and seeds == list(SEEDS)
        and methods == list(METHODS)
        and not params
        and args.margin is None
        and args.share is None
    ):  # the protocol: the record
        from records import write_record

        for protocol, table in made.items():
            write_record(
                "known_anomalies" + ("" if protocol == "all kinds" else "_one_cluster"),
                table,
                f"Known anomalies ({protocol}): ADBench DEV, 5% of the anomalies (at least 5) labelled"
                + (
                    " from the largest of 3 k-means clusters, tested on the other clusters"
                    if protocol == "one cluster"
                    else ""
                )
                + f", seeds {seeds}: ROC-AUC / AP on the test anomalies",
            )


if __name__ == "__main__":
    main()
