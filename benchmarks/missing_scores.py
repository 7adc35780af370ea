"""Scoring rows with missing entries: marginalise them, or impute and then score?

ADBench DEV protocol (../shared/data/adbench: fit on 60% of the shuffled normal rows, test on the rest and every
anomaly; seeds 0-2). The training rows are complete; 20% of the test entries are hidden completely at random (at
least one left per row). ROC-AUC and AP of:

- ``complete``: the default detector on the test rows before hiding (the ceiling);
- ``mean, then score``: the default detector, hidden entries set to the training column means;
- ``iterative, then score``: the default detector, hidden entries filled by ``IterativeImputer(BayesianRidge,
  max_iter=20)`` fitted on the training rows;
- ``marginalised``: ``VAEAnomalyDetector(missing="marginalise", corruption_mask=0.1)`` (trained with 10% of its
  inputs hidden from the encoder, so it has met missing entries), its score: the observed entries' NLL scaled to
  the full row (``d / n_observed``) plus the KL;
- ``marginalised, unscaled``: the same fit's bound on -log p of the observed part alone (rows with more missing
  entries have fewer terms).

    python benchmarks/missing_scores.py                         # every DEV set but 11_donors, seeds 0-2
    python benchmarks/missing_scores.py --datasets 6_cardio --seeds 0
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.adbench import DEFAULT_DATA, SEEDS, split, write_csv  # noqa: E402
from benchmarks.imputation import hide  # noqa: E402

HIDDEN = 0.2
TRAINING_MASK = 0.1
SKIPPED = ("11_donors",)
METHODS = ("complete", "mean, then score", "iterative, then score", "marginalised", "marginalised, unscaled")
RESULTS = Path(__file__).resolve().parent / "results" / "missing_scores.csv"


def scores(X_train: np.ndarray, X_test: np.ndarray, seed: int, params: dict) -> dict:
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer
    from sklearn.linear_model import BayesianRidge

    from anomaly_vae import VAEAnomalyDetector

    hidden = hide(X_test, seed, HIDDEN)
    X_missing = np.where(hidden, np.nan, X_test)
    det = VAEAnomalyDetector(random_state=seed, **params).fit(X_train)
    out = {
        "complete": det.anomaly_score(X_test),
        "mean, then score": det.anomaly_score(np.where(hidden, X_train.mean(axis=0), X_test)),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # IterativeImputer's convergence warnings
        imputer = IterativeImputer(BayesianRidge(), max_iter=20, random_state=seed).fit(X_train)
        out["iterative, then score"] = det.anomaly_score(imputer.transform(X_missing))
    marg = VAEAnomalyDetector(random_state=seed, missing="marginalise", corruption_mask=TRAINING_MASK, **params).fit(
        X_train
    )
    total, features = marg.score_with_features(X_missing)
    recon = features.to_numpy().sum(axis=1)
    observed = (~hidden).sum(axis=1)
    out["marginalised"] = total
    out["marginalised, unscaled"] = total - recon + recon * observed / X_test.shape[1]
    return out


def run(datasets, seeds, params: dict, log=print) -> pd.DataFrame:
    rows = []
    for path in datasets:
        data = np.load(path)
        for seed in seeds:
            X_train, X_test, y_test = split(data["X"], data["y"], seed)
            X_train, X_test = X_train.astype(np.float64), X_test.astype(np.float64)
            t0 = time.perf_counter()
            for method, s in scores(X_train, X_test, seed, params).items():
                rows.append(
                    dict(
                        dataset=path.stem,
                        seed=seed,
                        method=method,
                        roc_auc=roc_auc_score(y_test, s),
                        ap=average_precision_score(y_test, s),
                    )
                )
            log(
                f"{path.stem:15s} seed {seed}: "
                + ", ".join(f"{r['method']} {r['roc_auc']:.3f}" for r in rows[-5:])
                + f" ({time.perf_counter() - t0:.0f} s)"
            )
    return pd.DataFrame(rows)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--datasets", default="", help=f"comma-separated names (default: all but {', '.join(SKIPPED)})")
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    parser.add_argument("--params", default="{}", help="JSON of VAEAnomalyDetector parameters for every VAE")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    names = args.datasets.split(",") if args.datasets else None
    datasets = sorted(p for p in args.data.glob("*.npz") if (p.stem in names if names else p.stem not in SKIPPED))
    import keras

    print(f"backend {keras.backend.backend()}, {HIDDEN:.0%} of the test entries hidden at random")
    results = run(datasets, [int(s) for s in args.seeds.split(",")], json.loads(args.params))
    for measure in ("roc_auc", "ap"):
        table = results.pivot_table(index="dataset", columns="method", values=measure, sort=False)[list(METHODS)]
        table.loc["mean"] = table.mean()
        print(f"\n{measure}, mean over seeds\n")
        print(table.round(3).to_string())
    write_csv(results, args.out)


if __name__ == "__main__":
    main()
