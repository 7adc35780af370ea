"""How well does ``VAEImputer`` fill missing values? The MIWAE protocol, with scikit-learn's imputers beside it.

Protocol (Mattei & Frellsen 2019): standardise each set, hide 50% of the entries completely at random (keeping at
least one observed entry per row), fit every imputer on the incomplete table, and take the RMSE on the hidden
entries only, in standardised units; seeds 0-2 choose the hidden entries (and seed the imputers).

Sets: scikit-learn's bundled ``breast_cancer``, ``iris``, ``wine`` and ``diabetes``, and the normal rows of
``2_annthyroid``, ``6_cardio`` and ``30_satellite`` from ../shared/data/adbench (the first 2,000 after a seed-0
shuffle). Baselines in the same run: the column mean, ``KNNImputer(5)``, ``IterativeImputer(BayesianRidge,
max_iter=20)`` and missForest (``IterativeImputer(ExtraTreesRegressor(100), max_iter=10)``).

    python benchmarks/imputation.py                      # every set, seeds 0-2, VAEImputer's defaults
    python benchmarks/imputation.py --params '{"beta": 0.5}' --skip-missforest --sets iris,wine
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.adbench import DEFAULT_DATA, write_csv  # noqa: E402

SEEDS = (0, 1, 2)
MISSING_RATE = 0.5
ADBENCH_SETS = ("2_annthyroid", "6_cardio", "30_satellite")
ADBENCH_ROWS = 2_000
SKLEARN_SETS = ("breast_cancer", "iris", "wine", "diabetes")
RESULTS = Path(__file__).resolve().parent / "results" / "imputation.csv"


def load(name: str, data_dir: Path) -> np.ndarray:
    """The set's rows, standardised (as in the MIWAE paper)."""
    if name in SKLEARN_SETS:
        from sklearn import datasets

        X = getattr(datasets, f"load_{name}")().data
    else:
        data = np.load(data_dir / f"{name}.npz")
        X = data["X"][data["y"] == 0].astype(np.float64)
        X = X[np.random.default_rng(0).permutation(len(X))[:ADBENCH_ROWS]]
    X = np.asarray(X, dtype=np.float64)
    std = X.std(axis=0)
    return (X - X.mean(axis=0)) / np.where(std > 0, std, 1.0)


def hide(X: np.ndarray, seed: int, rate: float = MISSING_RATE) -> np.ndarray:
    """A mask of hidden entries: each hidden with probability ``rate``, at least one left per row."""
    rng = np.random.default_rng(seed)
    mask = rng.random(X.shape) < rate
    full = mask.all(axis=1)
    mask[np.flatnonzero(full), rng.integers(0, X.shape[1], full.sum())] = False
    return mask


def imputers(seed: int, params: dict, skip_missforest: bool) -> dict:
    from sklearn.ensemble import ExtraTreesRegressor
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer
    from sklearn.linear_model import BayesianRidge

    from anomaly_vae import VAEImputer

    out = {
        "VAEImputer": lambda: VAEImputer(random_state=seed, **params),
        "mean": lambda: SimpleImputer(),
        "kNN": lambda: KNNImputer(n_neighbors=5),
        "iterative": lambda: IterativeImputer(BayesianRidge(), max_iter=20, random_state=seed),
    }
    if not skip_missforest:
        out["missForest"] = lambda: IterativeImputer(
            ExtraTreesRegressor(n_estimators=100, random_state=seed), max_iter=10, random_state=seed
        )
    return out


def run(sets, seeds, params: dict, skip_missforest: bool, data_dir: Path, log=print) -> pd.DataFrame:
    rows = []
    for name in sets:
        X = load(name, data_dir)
        for seed in seeds:
            mask = hide(X, seed)
            X_missing = np.where(mask, np.nan, X)
            for method, make in imputers(seed, params, skip_missforest).items():
                t0 = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # IterativeImputer's convergence warnings
                    filled = make().fit_transform(X_missing)
                seconds = time.perf_counter() - t0
                assert np.array_equal(filled[~mask], X[~mask]), f"{method} changed observed entries"
                rmse = float(np.sqrt(np.mean((filled[mask] - X[mask]) ** 2)))
                rows.append(dict(dataset=name, seed=seed, method=method, rmse=rmse, seconds=seconds))
                log(f"{name:14s} seed {seed} {method:11s} RMSE {rmse:.3f} ({seconds:.1f} s)")
    return pd.DataFrame(rows)


def table(results: pd.DataFrame) -> pd.DataFrame:
    out = results.pivot_table(index="dataset", columns="method", values="rmse", aggfunc="mean", sort=False)
    out = out[[m for m in ("VAEImputer", "mean", "kNN", "iterative", "missForest") if m in out.columns]]
    out.loc["mean"] = out.mean()
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default=",".join(SKLEARN_SETS + ADBENCH_SETS))
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    parser.add_argument("--params", default="{}", help="VAEImputer parameters as JSON")
    parser.add_argument("--skip-missforest", action="store_true", help="missForest takes most of the time")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    params = json.loads(args.params)
    import keras

    print(f"backend {keras.backend.backend()}, VAEImputer params {params or 'defaults'}, {MISSING_RATE:.0%} hidden")
    results = run(
        args.sets.split(","), [int(s) for s in args.seeds.split(",")], params, args.skip_missforest, args.data
    )
    summary = table(results)
    print("\nRMSE on the hidden entries (standardised units), mean over seeds\n")
    print(summary.round(3).to_string())
    seconds = results.groupby("method", sort=False)["seconds"].sum()
    print("\nseconds, all sets and seeds: " + ", ".join(f"{m} {s:.0f}" for m, s in seconds.items()))
    if "VAEImputer" in summary.columns:
        per_set = summary.drop(index="mean")
        beats = all((per_set["VAEImputer"] < per_set[b]).all() for b in ("mean", "kNN"))
        print(f"VAEImputer beats mean and kNN on every set: {beats}; mean RMSE {summary.loc['mean', 'VAEImputer']:.3f}")
    write_csv(results, args.out)


if __name__ == "__main__":
    main()
