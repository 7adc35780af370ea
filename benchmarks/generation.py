"""How real do the VAE's samples look? A classifier two-sample test (C2ST) against a Gaussian mixture.

For each ADBench DEV set (../shared/data/adbench, all but ``11_donors``), the normal rows are shuffled (seed) and
split in half: one half fits the generator, the other is the real side of the test. The generator draws as many
rows as the real half has, and scikit-learn's ``HistGradientBoostingClassifier`` learns to tell real from generated
(5-fold stratified ROC-AUC; 0.5 means indistinguishable, 1.0 trivially told apart). Generators: the detector at
its defaults (``sample()``: codes from the latent mixture, one likelihood draw each, columns kept in their training
decimals and range), the same fitted detector with prior codes (``codes="prior"``), and, as the baseline,
``GaussianMixture(10, covariance_type="full")`` fitted on standardised rows, as it is and with its samples kept in the
same support (rounded and clipped as the VAE's are). Seeds 0-2.

The demo transactions table (mixed numeric and categorical columns) is tested the same way with the fit pipeline's
preprocessing and ``ModelBundle.sample``: fitted on the normal training rows, against the normal test rows
without missing values (the samples have none, which would otherwise give them away); the classifier sees the
categories as categorical features. No Gaussian-mixture baseline there (it cannot draw categories).

    python benchmarks/generation.py
    python benchmarks/generation.py --datasets 6_cardio --seeds 0 --skip-demo
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
from benchmarks.adbench import DEFAULT_DATA, SEEDS, write_csv  # noqa: E402

SKIPPED = ("11_donors",)
FOLDS = 5
RESULTS = Path(__file__).resolve().parent / "results" / "generation.csv"


def c2st(real: pd.DataFrame, fake: pd.DataFrame, seed: int) -> float:
    """Cross-validated ROC-AUC of a classifier telling ``real`` rows (0) from ``fake`` ones (1)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    X = pd.concat([real, fake], ignore_index=True)
    y = np.r_[np.zeros(len(real)), np.ones(len(fake))]
    clf = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=seed)
    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=seed)
    return float(cross_val_score(clf, X, y, cv=folds, scoring="roc_auc").mean())


def gaussian_mixture_samples(train: np.ndarray, n: int, seed: int) -> np.ndarray:
    from sklearn.mixture import GaussianMixture
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(train)
    gmm = GaussianMixture(10, covariance_type="full", reg_covar=1e-4, random_state=seed).fit(scaler.transform(train))
    return scaler.inverse_transform(gmm.sample(n)[0])


def numeric_rows(path: Path, seed: int, params: dict) -> dict:
    from anomaly_vae import VAEAnomalyDetector
    from anomaly_vae.generation.column_support import ColumnSupport

    data = np.load(path)
    X = data["X"][data["y"] == 0].astype(np.float64)
    X = X[np.random.default_rng(seed).permutation(len(X))]
    train, real = X[: len(X) // 2], X[len(X) // 2 :]
    columns = [f"x{i}" for i in range(X.shape[1])]
    t0 = time.perf_counter()
    det = VAEAnomalyDetector(random_state=seed, **params).fit(train)
    vae = det.sample(len(real), random_state=seed)
    fit_s = time.perf_counter() - t0
    prior = det.sample(len(real), random_state=seed, codes="prior")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the mixture's convergence warnings on small sets
        gmm = gaussian_mixture_samples(train, len(real), seed)
    real_frame = pd.DataFrame(real, columns=columns)

    def test(fake):
        return c2st(real_frame, pd.DataFrame(fake, columns=columns), seed)

    return dict(
        dataset=path.stem,
        seed=seed,
        n_real=len(real),
        vae=test(vae),
        vae_prior_codes=test(prior),
        gaussian_mixture=test(gmm),
        gaussian_mixture_in_support=test(ColumnSupport.fit(train).apply(gmm)),
        fit_s=fit_s,
    )


def demo_rows(seed: int, params: dict) -> dict:
    from anomaly_vae import VAEAnomalyDetector
    from pipelines.demo_data import DATA_DIR
    from pipelines.modalities.table.bundle import ModelBundle
    from pipelines.modalities.table.preprocessing import build_preprocessor, onehot_groups
    from pipelines.modalities.table.schema import Schema

    train_frame, test_frame = (
        pd.read_csv(DATA_DIR / "transactions_train.csv"),
        pd.read_csv(DATA_DIR / "transactions_test.csv"),
    )
    schema = Schema.infer(train_frame, "label")
    train = schema.conform(train_frame[train_frame["label"] == 0])
    preprocessor = build_preprocessor(schema).fit(train)
    detector = VAEAnomalyDetector(random_state=seed, categorical_groups=onehot_groups(preprocessor, schema), **params)
    detector.fit(preprocessor.transform(train))
    bundle = ModelBundle.for_training(schema, preprocessor, detector, train)
    real = schema.conform(test_frame[test_frame["label"] == 0]).dropna()
    fake = bundle.sample(len(real), random_state=seed)[list(real.columns)]
    for col in schema.categorical:
        kinds = pd.CategoricalDtype(sorted(set(real[col]) | set(fake[col].dropna())))
        real[col], fake[col] = real[col].astype(kinds), fake[col].astype(kinds)
    return dict(
        dataset="demo transactions (mixed)",
        seed=seed,
        n_real=len(real),
        vae=c2st(real, fake, seed),
        vae_prior_codes=np.nan,
        gaussian_mixture=np.nan,
        gaussian_mixture_in_support=np.nan,
        fit_s=np.nan,
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--datasets", default="", help=f"comma-separated names (default: all but {', '.join(SKIPPED)})")
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    parser.add_argument("--params", default="{}", help="JSON of VAEAnomalyDetector parameters")
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    names = args.datasets.split(",") if args.datasets else None
    datasets = sorted(p for p in args.data.glob("*.npz") if (p.stem in names if names else p.stem not in SKIPPED))
    seeds, params = [int(s) for s in args.seeds.split(",")], json.loads(args.params)
    import keras

    print(
        f"backend {keras.backend.backend()}; C2ST ROC-AUC ({FOLDS}-fold HistGradientBoosting; 0.5 = indistinguishable)"
    )
    rows = []
    for path in datasets:
        for seed in seeds:
            rows.append(numeric_rows(path, seed, params))
            r = rows[-1]
            print(
                f"{path.stem:15s} seed {seed}: VAE {r['vae']:.3f} (prior codes {r['vae_prior_codes']:.3f}), Gaussian "
                f"mixture {r['gaussian_mixture']:.3f} (in the support {r['gaussian_mixture_in_support']:.3f})",
                flush=True,
            )
    if not args.skip_demo:
        for seed in seeds:
            rows.append(demo_rows(seed, params))
            print(f"demo transactions seed {seed}: VAE {rows[-1]['vae']:.3f}", flush=True)
    results = pd.DataFrame(rows)
    table = results.groupby("dataset", sort=False)[
        ["n_real", "vae", "vae_prior_codes", "gaussian_mixture", "gaussian_mixture_in_support"]
    ].mean()
    numeric = table.dropna(subset=["gaussian_mixture"])
    print("\nC2ST ROC-AUC, mean over seeds (lower = more realistic samples)\n")
    print(table.round(3).to_string())
    for baseline in ("gaussian_mixture", "gaussian_mixture_in_support"):
        wins = int((numeric["vae"] < numeric[baseline]).sum())
        print(
            f"\nnumeric sets: VAE below {baseline} on {wins} of {len(numeric)}; means "
            f"{numeric['vae'].mean():.3f} (VAE) and {numeric[baseline].mean():.3f} ({baseline})"
        )
    write_csv(results, args.out)


if __name__ == "__main__":
    main()
