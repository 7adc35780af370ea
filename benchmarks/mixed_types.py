"""Mixed-type tables: detection quality per kind of anomaly, and its spread over seeds.

The ADBench sets are all numeric and the bundled demo table is too easy to move (1.000 / 0.996), so nothing else
measures what most users bring: numeric and categorical columns with missing cells. This benchmark generates its
own table (seeded, written to ``--workdir``) and runs the product as a user would: ``anomaly-vae fit train.csv``
then ``anomaly-vae score`` with every default but ``--random-state``, once per seed, beside kNN on one-hot columns
and IsolationForest on the same encoding in the same run.

The table. Three latent factors drive eight numeric columns (linear and log-normal relations, a count, a
bounded score, a skewed duration); ``segment`` (5 levels) shifts the level of ``income`` and ``balance``;
``region`` (4) allows three of the six ``product`` values each; ``channel`` (3) leans on ``segment``. 3% of the
numeric cells and 2% of the categorical cells are missing, at random, in training and test rows alike.
Training: ``--train-rows`` normal rows. Test: ``--test-normal`` normal rows and ``--per-kind`` anomalies of each kind,
each made from a normal row:

- ``global``: one of income, spend, balance or tenure 4-6 robust standard deviations out;
- ``dependency``: spend and age taken together from another row, so each is an ordinary value but neither
  fits the row's income;
- ``contextual``: the segment changed to one whose income level is at least 20 away (two within-segment
  standard deviations): every value is common, the combination is not;
- ``categorical``: a product its region never sells (numbers untouched).

Per method and seed: ROC-AUC and AP on all test rows, and on the normal rows plus each kind alone. The printed
table gives the mean over seeds, the standard deviation and the range of the overall AP (the spread two users
fitting the same file see). kNN (k = 5, distance to the 5th neighbour, as PyOD's default) is deterministic;
IsolationForest takes the seed.

    python benchmarks/mixed_types.py                                   # seeds 0-2, the fit pipeline's defaults
    python benchmarks/mixed_types.py --seeds 0,1,2,3 --variant nocal="--calibration-fraction 0"
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from fit_output import local_model  # noqa: E402
from records import write_record  # noqa: E402

KINDS = ("global", "dependency", "contextual", "categorical")
NUMERIC = ("income", "spend", "visits", "tenure_months", "balance", "risk_score", "age", "hour")
CATEGORICAL = ("segment", "region", "product", "channel")
SEGMENTS = ("A", "B", "C", "D", "E")
SEGMENT_INCOME = {"A": 0.0, "B": 10.0, "C": -10.0, "D": 22.0, "E": -5.0}
SEGMENT_BALANCE = {"A": 1.0, "B": 1.3, "C": 0.8, "D": 1.8, "E": 1.0}
REGIONS = ("north", "south", "east", "west")
PRODUCTS = ("basic", "plus", "pro", "family", "student", "business")
REGION_PRODUCTS = {
    "north": ("basic", "plus", "pro"),
    "south": ("basic", "family", "student"),
    "east": ("plus", "business", "student"),
    "west": ("pro", "family", "business"),
}
CHANNELS = ("web", "app", "branch")


# ------------------------------------------------------------------ the table
def normal_rows(n: int, rng: np.random.Generator) -> pd.DataFrame:
    z = rng.normal(size=(n, 3))
    segment = rng.choice(SEGMENTS, size=n, p=[0.3, 0.25, 0.2, 0.15, 0.1])
    income = 50 + 8 * z[:, 0] + np.array([SEGMENT_INCOME[s] for s in segment]) + rng.normal(0, 2, n)
    tenure = rng.gamma(3.0, 10.0, n)
    region = rng.choice(REGIONS, size=n)
    product = np.array([rng.choice(REGION_PRODUCTS[r], p=[0.5, 0.3, 0.2]) for r in region])
    channel_p = {
        "A": [0.5, 0.3, 0.2],
        "B": [0.3, 0.5, 0.2],
        "C": [0.2, 0.3, 0.5],
        "D": [0.6, 0.3, 0.1],
        "E": [0.34, 0.33, 0.33],
    }
    channel = np.array([rng.choice(CHANNELS, p=channel_p[s]) for s in segment])
    return pd.DataFrame(
        {
            "income": income.round(2),
            "spend": (0.6 * income + 5 * z[:, 1] + rng.normal(0, 3, n)).round(2),
            "visits": rng.poisson(np.exp(1.5 + 0.3 * z[:, 1])),
            "tenure_months": tenure.round(1),
            "balance": (100 * np.exp(0.4 * z[:, 2]) * np.array([SEGMENT_BALANCE[s] for s in segment])).round(2),
            "risk_score": (1 / (1 + np.exp(-(z[:, 0] - z[:, 2])))).round(3),
            "age": (30 + 6 * z[:, 0] + 0.1 * tenure + rng.normal(0, 3, n)).round(1),
            "hour": np.clip(rng.normal(14, 3.5, n), 0, 23.99).round(2),
            "segment": segment,
            "region": region,
            "product": product,
            "channel": channel,
        }
    )


def make_anomalies(base: pd.DataFrame, kind: str, donors: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Turn every row of ``base`` into an anomaly of ``kind`` (``donors``: other normal rows to borrow from)."""
    df = base.copy().reset_index(drop=True)
    n = len(df)
    if kind == "global":
        for i in range(n):
            col = rng.choice(["income", "spend", "balance", "tenure_months"])
            ref = donors[col]
            scale = 1.4826 * float(np.median(np.abs(ref - ref.median())))
            sign = 1.0 if col in ("balance", "tenure_months") else rng.choice([-1.0, 1.0])
            df.loc[i, col] = round(float(ref.median() + sign * rng.uniform(4, 6) * scale), 2)
    elif kind == "dependency":
        picked = donors.sample(n, random_state=int(rng.integers(2**31))).reset_index(drop=True)
        far = (picked["income"] - df["income"]).abs() > 12  # the borrowed pair belongs to a clearly other income
        while not far.all():
            redo = donors.sample(int((~far).sum()), random_state=int(rng.integers(2**31))).reset_index(drop=True)
            picked.loc[~far, :] = redo.to_numpy()
            far = (picked["income"] - df["income"]).abs() > 12
        df["spend"], df["age"] = picked["spend"].to_numpy(), picked["age"].to_numpy()
    elif kind == "contextual":
        for i in range(n):
            level = SEGMENT_INCOME[df.loc[i, "segment"]]
            others = [s for s in SEGMENTS if abs(SEGMENT_INCOME[s] - level) >= 20]
            df.loc[i, "segment"] = rng.choice(others) if others else "D"
    elif kind == "categorical":
        for i in range(n):
            allowed = REGION_PRODUCTS[df.loc[i, "region"]]
            df.loc[i, "product"] = rng.choice([p for p in PRODUCTS if p not in allowed])
    else:
        raise ValueError(kind)
    return df


def with_missing(df: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    df = df.copy()
    for col in NUMERIC:
        df[col] = df[col].astype("float64")
        df.loc[rng.random(len(df)) < 0.03, col] = np.nan
    for col in CATEGORICAL:
        df[col] = df[col].astype(object)
        df.loc[rng.random(len(df)) < 0.02, col] = np.nan
    return df


def make_table(train_rows: int, test_normal: int, per_kind: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test); test has ``label`` (1 = anomaly) and ``kind`` (``normal`` or one of ``KINDS``)."""
    rng = np.random.default_rng(seed)
    train = normal_rows(train_rows, rng)
    test = normal_rows(test_normal, rng).assign(kind="normal")
    donors = normal_rows(5000, rng)
    parts = [test] + [make_anomalies(normal_rows(per_kind, rng), kind, donors, rng).assign(kind=kind) for kind in KINDS]
    test = pd.concat(parts, ignore_index=True)
    test = test.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    test.insert(0, "label", (test["kind"] != "normal").astype(int))
    return with_missing(train, rng), with_missing(test, rng)


# ------------------------------------------------------------------ the methods
def vae_scores(
    train_csv: Path, test_csv: Path, seed: int, extra: list[str], work: Path, tag: str
) -> tuple[np.ndarray, float]:
    """``anomaly-vae fit`` then ``anomaly-vae score``, as a user runs them; seconds of the whole fit command
    (imports and MLflow logging included)."""
    cli = [sys.executable, "-m", "pipelines.cli"]
    name = f"{tag}-seed{seed}"
    out = work / "out"
    t = time.perf_counter()
    fitted = subprocess.run(
        [
            *cli,
            "fit",
            str(train_csv),
            "--random-state",
            str(seed),
            *extra,
            "--verbose",
            "0",
            "--tracking-uri",
            f"sqlite:///{work / 'mlflow.db'}",
            "--output-dir",
            str(out),
            "--run-name",
            name,
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    fit_s = time.perf_counter() - t
    scores = work / f"scores-{name}.csv"
    scores.unlink(missing_ok=True)
    subprocess.run(
        [*cli, "score", local_model(fitted.stdout), str(test_csv), str(scores), "--no-log-run"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return pd.read_csv(scores)["anomaly_score"].to_numpy(), fit_s


def one_hot_encoding(train: pd.DataFrame, test: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Numeric columns median-imputed and standardised on the training rows; categorical columns one-hot, a
    missing or unseen category all zeros."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    encoder = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), list(NUMERIC)),
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), list(CATEGORICAL)),
        ]
    )
    cats = {c: train[c].fillna("__missing__") for c in CATEGORICAL}
    Xtr = encoder.fit_transform(train.assign(**cats))
    # a missing category is encoded as unseen (all zeros) in the test rows
    Xte = encoder.transform(test.assign(**{c: test[c].fillna("__missing__") for c in CATEGORICAL}))
    return Xtr, Xte


def knn_scores(Xtr: np.ndarray, Xte: np.ndarray) -> np.ndarray:
    from sklearn.neighbors import NearestNeighbors

    return NearestNeighbors(n_neighbors=5).fit(Xtr).kneighbors(Xte)[0][:, -1]


def iforest_scores(Xtr: np.ndarray, Xte: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.ensemble import IsolationForest

    return -IsolationForest(random_state=seed).fit(Xtr).score_samples(Xte)


def measures(scores: np.ndarray, test: pd.DataFrame) -> dict:
    from sklearn.metrics import average_precision_score, roc_auc_score

    if not np.isfinite(scores).all():
        raise ValueError("a method returned NaN or infinite scores")
    y, kind = test["label"].to_numpy(), test["kind"].to_numpy()
    row = {"roc_auc": roc_auc_score(y, scores), "ap": average_precision_score(y, scores)}
    for k in KINDS:
        keep = (kind == "normal") | (kind == k)
        row[f"{k}_roc_auc"] = roc_auc_score(y[keep], scores[keep])
        row[f"{k}_ap"] = average_precision_score(y[keep], scores[keep])
    return row


# ------------------------------------------------------------------ the run
def summary(results: pd.DataFrame) -> pd.DataFrame:
    cols = ["roc_auc", "ap"] + [f"{k}_{m}" for k in KINDS for m in ("roc_auc", "ap")]
    grouped = results.groupby("method", sort=False)
    table = grouped[cols].mean()
    table.insert(2, "ap_sd", grouped["ap"].std(ddof=1).fillna(0.0))
    table.insert(3, "ap_range", grouped["ap"].max() - grouped["ap"].min())
    table.insert(2, "roc_auc_sd", grouped["roc_auc"].std(ddof=1).fillna(0.0))
    table["fit_s"] = grouped["fit_s"].mean()
    table["seeds"] = grouped["seed"].count()
    return table


def markdown(table: pd.DataFrame) -> str:
    head = (
        "| method | ROC-AUC (sd) | AP (sd, range) | " + " | ".join(f"{k} ROC-AUC / AP" for k in KINDS) + " | fit (s) |"
    )
    lines = [head, "|---" + "|---:" * (3 + len(KINDS)) + "|"]
    for method, r in table.iterrows():
        kinds = " | ".join(f"{r[f'{k}_roc_auc']:.3f} / {r[f'{k}_ap']:.3f}" for k in KINDS)
        lines.append(
            f"| {method} | {r.roc_auc:.3f} ({r.roc_auc_sd:.3f}) | {r.ap:.3f} ({r.ap_sd:.3f}, "
            f"{r.ap_range:.3f}) | {kinds} | {r.fit_s:.1f} |"
        )
    return "\n".join(lines)


PREVIOUS = ROOT / "benchmarks" / "mixed_types_previous.csv"
"""The pipeline defaults' figures of the last accepted run (mean ROC-AUC and AP over the seeds, and the AP's standard
deviation); after a change that moves them for good, copy the new ones there and say why in RESULTS.md."""
NOISE = {"roc_auc": 0.005, "ap": 0.01}
"""How far a mean may fall below the previous figure before the run fails (seed noise: the sd over three seeds)."""
MAX_AP_SD = 0.012
"""The bound on the AP's standard deviation over seeds: two fits of one file should rank alike."""


def guard(table: pd.DataFrame, previous: pd.DataFrame) -> tuple[list[str], bool]:
    """The pipeline defaults' row against the previous figures and the spread bound: lines to print, and whether
    everything held."""
    name = "VAE, pipeline defaults"
    if name not in table.index or table.loc[name, "seeds"] < 3:
        return ["guard: skipped (needs the pipeline defaults on at least 3 seeds)"], True
    row, before, lines, ok = table.loc[name], previous.loc[name], [], True
    for column, margin in NOISE.items():
        held = row[column] >= before[column] - margin
        ok &= held
        lines.append(
            f"guard: mean {column} {row[column]:.3f} (previous {before[column]:.3f}, may fall by {margin}): "
            + ("ok" if held else "REGRESSION")
        )
    held = row["ap_sd"] <= MAX_AP_SD
    ok &= held
    lines.append(
        f"guard: AP sd over seeds {row['ap_sd']:.3f} (bound {MAX_AP_SD}): " + ("ok" if held else "BOUND BROKEN")
    )
    return lines, ok


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2", help="model seeds (--random-state); the table is generated once")
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--train-rows", type=int, default=5000)
    parser.add_argument("--test-normal", type=int, default=2000)
    parser.add_argument("--per-kind", type=int, default=100)
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar='NAME="FIT OPTIONS"',
        help="also run the VAE with these extra fit options (repeatable)",
    )
    parser.add_argument("--no-defaults", action="store_true", help="skip the VAE with the pipeline's defaults")
    parser.add_argument("--workdir", type=Path, default=ROOT / "benchmarks/results/mixed_types_work")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/mixed_types.csv")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    variants: list[tuple[str, list[str]]] = [] if args.no_defaults else [("VAE, pipeline defaults", [])]
    for spec in args.variant:
        name, _, options = spec.partition("=")
        variants.append((f"VAE, {name}", shlex.split(options)))

    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    train, test = make_table(args.train_rows, args.test_normal, args.per_kind, args.data_seed)
    train_csv, test_csv = work / "train.csv", work / "test.csv"
    train.to_csv(train_csv, index=False)
    test.to_csv(test_csv, index=False)
    print(
        f"table: {len(train):,} training rows, {len(test):,} test rows "
        f"({int(test['label'].sum())} anomalies, {args.per_kind} per kind) in {work}",
        file=sys.stderr,
    )

    rows = []
    Xtr, Xte = one_hot_encoding(train, test)
    t = time.perf_counter()
    knn = knn_scores(Xtr, Xte)
    rows.append({"method": "kNN (k=5, one-hot)", "seed": 0, "fit_s": time.perf_counter() - t, **measures(knn, test)})
    for seed in seeds:
        t = time.perf_counter()
        iforest = iforest_scores(Xtr, Xte, seed)
        rows.append(
            {
                "method": "IsolationForest (one-hot)",
                "seed": seed,
                "fit_s": time.perf_counter() - t,
                **measures(iforest, test),
            }
        )
    for index, (name, extra) in enumerate(variants):
        for seed in seeds:
            print(f"[{name}] seed {seed} ...", file=sys.stderr, flush=True)
            scores, fit_s = vae_scores(train_csv, test_csv, seed, extra, work, tag=f"variant{index}")
            rows.append({"method": name, "seed": seed, "fit_s": fit_s, **measures(scores, test)})

    results = pd.DataFrame(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    results.to_csv(args.out, index=False)
    pd.set_option("display.width", 250)
    print(results[["method", "seed", "roc_auc", "ap", "fit_s"]].round(3).to_string(index=False))
    print()
    table = summary(results)
    print(markdown(table))
    default_table = (args.data_seed, args.train_rows, args.test_normal, args.per_kind) == (0, 5000, 2000, 100)
    if default_table:
        shown = table.rename_axis("method").reset_index()
        shown.insert(1, "seeds", shown.pop("seeds"))
        write_record(
            "mixed_types",
            shown,
            f"Mixed-type table ({len(seeds)} seeds): mean ROC-AUC and AP over seeds with their spread (sd, range), "
            "and per kind of anomaly",
        )
    if default_table and PREVIOUS.is_file():
        lines, ok = guard(table, pd.read_csv(PREVIOUS, index_col="method"))
        print("\n" + "\n".join(lines))
        if not ok:
            sys.exit(1)


if __name__ == "__main__":
    main()
