"""Do the detector's decisions mean what they say? Realised false-positive and false-discovery rates.

Three tables, each with its baselines from the same run:

1. ADBench DEV (protocol of ../shared/data/adbench: fit on 60% of the shuffled normal rows, test on the rest):
   the realised false-positive rate on the normal test rows at targets 0.01 and 0.05 for the conformal rule
   (p-value <= target), against the quantile rule on the same calibration scores and the rule before calibration
   splits existed (the quantile of the validation scores, which also chose the early-stopping epoch). A rate "holds"
   when it lies in the 99% binomial interval of the target for that set's number of normal test rows (mean over
   seeds; the stricter pooled check counts all seeds' rows in one interval).
2. Benjamini-Hochberg at FDR 0.05 on the DEV test sets (normal + anomalies): realised false-discovery proportion
   and power, averaged over seeds.
3. POT on a known distribution: a detector fitted on 50,000 rows drawn from a fixed 8-D distribution (5,000
   calibration rows), its POT and quantile thresholds at 1e-3 and 1e-4 checked on 200,000 fresh rows; and the POT
   estimator alone on scores drawn from known laws (normal, gamma, Student t) against the empirical quantile, down
   to 1e-5 with 5,000 scores (where the quantile can only return the largest score).

    python benchmarks/calibration.py                       # all DEV sets, seeds 0-2, the detector's defaults
    python benchmarks/calibration.py --params '{"calibration_fraction": 0.3}' --skip-pot
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.adbench import DEFAULT_DATA, SEEDS, split  # noqa: E402

TARGETS = (0.01, 0.05)
FDR = 0.05


def dev_rows(path: Path, seed: int, params: dict) -> dict:
    from anomaly_vae import VAEAnomalyDetector
    from anomaly_vae.decisions.p_values import bh_select
    from anomaly_vae.decisions.threshold import fit_threshold

    data = np.load(path)
    X_train, X_test, y_test = split(data["X"], data["y"], seed)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # too few calibration rows for a target is part of what is measured
        det = VAEAnomalyDetector(random_state=seed, **params).fit(X_train)
        scores = det.anomaly_score(X_test)
        p = det.p_values(X_test)
        normal = y_test == 0
        row = dict(
            dataset=path.stem,
            seed=seed,
            n_cal=len(det.calibration_scores_),
            n_test_normal=int(normal.sum()),
            fit_s=time.perf_counter() - t0,
        )
        for target in TARGETS:
            row[f"conformal@{target}"] = float(np.mean(p[normal] <= target))
            row[f"quantile@{target}"] = float(
                np.mean(scores[normal] > fit_threshold(det.calibration_scores_, "quantile", target).value)
            )
            row[f"validation@{target}"] = float(
                np.mean(scores[normal] > fit_threshold(det.validation_scores_, "quantile", target).value)
            )
    flagged = bh_select(p, FDR)
    row["bh_fdp"] = float(flagged[normal].sum() / max(flagged.sum(), 1))
    row["bh_power"] = float(flagged[~normal].mean())
    row["bh_flagged"] = int(flagged.sum())
    return row


def holds(rate: float, n: int, target: float) -> bool:
    lo, hi = stats.binom.interval(0.99, n, target)
    return lo / n <= rate <= hi / n


def dev_tables(rows: pd.DataFrame, seeds) -> tuple[pd.DataFrame, dict]:
    per_set = rows.groupby("dataset", sort=False).mean(numeric_only=True)
    out = pd.DataFrame(index=per_set.index)
    out["n_cal"] = per_set["n_cal"].round().astype(int)
    out["n_test"] = per_set["n_test_normal"].round().astype(int)
    counts = {}
    for rule in ("conformal", "quantile", "validation"):
        for target in TARGETS:
            col = f"{rule}@{target}"
            ok = [holds(r, n, target) for r, n in zip(per_set[col], out["n_test"])]
            pooled = [holds(r, n * len(seeds), target) for r, n in zip(per_set[col], out["n_test"])]
            out[col] = [f"{r:.4f}{'' if k else ' x'}" for r, k in zip(per_set[col], ok)]
            counts[col] = (sum(ok), sum(pooled))
    out["BH FDP"] = per_set["bh_fdp"].map("{:.3f}".format)
    out["BH power"] = per_set["bh_power"].map("{:.3f}".format)
    out["fit s"] = per_set["fit_s"].map("{:.1f}".format)
    return out, counts


def known_rows(n: int, rng: np.random.Generator) -> np.ndarray:
    """A fixed, non-Gaussian 8-D distribution: 3 latent factors through a tanh, plus noise."""
    z = rng.normal(size=(n, 3))
    w = np.random.default_rng(1234).normal(size=(3, 5))
    return np.column_stack([z, np.tanh(z @ w) + 0.1 * rng.normal(size=(n, 5))])


def pot_detector_rows(seeds, params: dict) -> list[dict]:
    from anomaly_vae import VAEAnomalyDetector

    rows = []
    for seed in seeds:
        rng = np.random.default_rng(100 + seed)
        det = VAEAnomalyDetector(random_state=seed, **{**params, "threshold": "pot", "target_fpr": 1e-3})
        t0 = time.perf_counter()
        det.fit(known_rows(50_000, rng))
        fit_s = time.perf_counter() - t0
        fresh = det.anomaly_score(known_rows(200_000, rng))
        for target in (1e-3, 1e-4):
            for rule in ("pot", "quantile"):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    det.set_threshold(scores=det.calibration_scores_, rule=rule, target_fpr=target)
                rows.append(
                    dict(
                        seed=seed,
                        rule=rule,
                        target=target,
                        n_cal=len(det.calibration_scores_),
                        realised=float(np.mean(fresh > det.threshold_)),
                        fit_s=fit_s,
                        shape=det.tail_.shape if det.tail_ is not None else np.nan,
                    )
                )
    return rows


def pot_law_rows(repeats: int = 30) -> list[dict]:
    from anomaly_vae.decisions.threshold import fit_threshold

    laws = {"normal": stats.norm(), "gamma(4)": stats.gamma(4.0), "Student t(5)": stats.t(5)}
    rows = []
    for name, law in laws.items():
        for n, target in ((1000, 1e-3), (5000, 1e-3), (5000, 1e-4), (5000, 1e-5)):
            for rule in ("pot", "quantile"):
                ratios = np.asarray(
                    [
                        law.sf(fit_threshold(law.rvs(size=n, random_state=seed), rule, target).value) / target
                        for seed in range(repeats)
                    ]
                )
                rows.append(
                    dict(
                        law=name,
                        n_cal=n,
                        target=target,
                        rule=rule,
                        median_ratio=f"{np.median(ratios):.2f}",
                        within_0_3_to_3=f"{int(((ratios >= 0.3) & (ratios <= 3)).sum())}/{repeats}",
                    )
                )
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--datasets", default="", help="comma-separated names (default: every DEV set)")
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    parser.add_argument("--params", default="{}", help="JSON of VAEAnomalyDetector parameters (default: its defaults)")
    parser.add_argument("--skip-dev", action="store_true")
    parser.add_argument("--skip-pot", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/calibration.csv"))
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    params = json.loads(args.params)
    names = [n for n in args.datasets.split(",") if n]
    datasets = (
        [args.data / f"{n}.npz" for n in names]
        if names
        else sorted(args.data.glob("*.npz"), key=lambda p: int(p.stem.split("_")[0]))
    )
    pd.set_option("display.width", 250)
    import keras

    print(f"Keras backend {keras.backend.backend()}; detector parameters {params or 'defaults'}; seeds {seeds}")

    if not args.skip_dev:
        rows = []
        for path in datasets:
            for seed in seeds:
                rows.append(dev_rows(path, seed, params))
            print(f"  {path.stem:<16} done", file=sys.stderr, flush=True)
        frame = pd.DataFrame(rows)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(args.out.with_suffix(".tmp"), index=False)
        os.replace(args.out.with_suffix(".tmp"), args.out)
        table, counts = dev_tables(frame, seeds)
        print(
            "\n1. Realised false-positive rate on normal test rows (mean over seeds; x: outside the 99% binomial "
            "interval of the target for the set's normal test rows)"
        )
        print(table.drop(columns=["BH FDP", "BH power"]).to_string())
        print(f"\nSets where the rate holds, of {len(table)} (mean over seeds / pooled over seeds):")
        for col, (ok, pooled) in counts.items():
            print(f"  {col:<18} {ok:>2} / {pooled:>2}")
        both = sum(
            holds(a, n, TARGETS[0]) and holds(b, n, TARGETS[1])
            for a, b, n in zip(
                frame.groupby("dataset", sort=False)[f"conformal@{TARGETS[0]}"].mean(),
                frame.groupby("dataset", sort=False)[f"conformal@{TARGETS[1]}"].mean(),
                table["n_test"],
            )
        )
        print(f"  conformal, both targets: {both} / {len(table)}")
        fdp = frame["bh_fdp"]
        print(f"\n2. Benjamini-Hochberg at FDR {FDR} on the DEV test sets (normal + anomalies), per set as above:")
        print(table[["n_cal", "BH FDP", "BH power"]].to_string())
        from records import write_record

        write_record(
            "calibration",
            table,
            f"Calibration on the ADBench DEV sets (seeds {seeds}): realised false-positive rate on normal test rows "
            f"per rule and target (x: outside the 99% binomial interval of the target), and Benjamini-Hochberg's "
            f"false-discovery proportion and power at FDR {FDR}",
            digits=4,
        )
        print(
            f"  mean FDP {fdp.mean():.4f} (Monte Carlo error {fdp.std(ddof=1) / np.sqrt(len(fdp)):.4f}, "
            f"{len(fdp)} runs); mean power {frame['bh_power'].mean():.3f}; "
            f"runs that flagged nothing: {(frame['bh_flagged'] == 0).sum()}"
        )

    if not args.skip_pot:
        pot = pd.DataFrame(pot_detector_rows(seeds, params))
        print("\n3a. A detector fitted on 50,000 rows of a known 8-D distribution: realised rate on 200,000 fresh rows")
        summary = pot.groupby(["target", "rule"]).agg(
            n_cal=("n_cal", "first"),
            realised_mean=("realised", "mean"),
            realised_min=("realised", "min"),
            realised_max=("realised", "max"),
            tail_shape=("shape", "mean"),
            fit_s=("fit_s", "mean"),
        )
        print(summary.to_string(float_format=lambda v: f"{v:.2e}" if abs(v) < 0.01 else f"{v:.3f}"))
        print(
            "  per seed:", ", ".join(f"{r.rule}@{r.target:g} seed {r.seed}: {r.realised:.2e}" for r in pot.itertuples())
        )
        laws = pd.DataFrame(pot_law_rows())
        print("\n3b. The threshold estimator alone on scores from known laws (30 draws each): realised rate / target")
        print(
            laws.pivot_table(
                index=["law", "n_cal", "target"],
                columns="rule",
                values=["median_ratio", "within_0_3_to_3"],
                aggfunc="first",
            ).to_string()
        )


if __name__ == "__main__":
    main()
