"""Seeded generator of the bundled demo data: mixed numeric/categorical rows with injected anomalies.

``python -m pipelines.demo_data`` rewrites ``data/transactions_{train,test}.csv``.
Normal rows follow a few correlated relationships (amount grows with items,
latency with distance, each channel has its own range); anomalies break them in
four ways: extreme values, broken correlations, unusual category/value
combinations and a rare category. About 3% of numeric cells and 2% of
categorical cells are missing. ``label`` is the label (1 = anomaly).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
REGIONS = ["north", "south", "east", "west"]
CHANNELS = ["web", "app", "store"]
CHANNEL_BASE = {"web": 40.0, "app": 25.0, "store": 80.0}
ANOMALY_KINDS = ("extreme", "broken_correlation", "wrong_channel_range", "rare_category")


def normal_rows(n: int, rng: np.random.Generator) -> pd.DataFrame:
    channel = rng.choice(CHANNELS, size=n, p=[0.5, 0.35, 0.15])
    items = rng.poisson(3, size=n) + 1
    base = np.array([CHANNEL_BASE[c] for c in channel])
    amount = base + 12.0 * items + rng.normal(0, 6, size=n)
    distance = rng.gamma(2.0, 5.0, size=n)
    latency = 20 + 3.0 * distance + rng.normal(0, 4, size=n)
    hour = np.clip(rng.normal(14, 3.5, size=n), 0, 23.99)
    return pd.DataFrame(
        {
            "amount": amount.round(2),
            "items": items,
            "distance_km": distance.round(2),
            "latency_ms": latency.round(1),
            "hour": hour.round(2),
            "discount": np.clip(rng.beta(2, 12, size=n), 0, 1).round(3),
            "region": rng.choice(REGIONS, size=n),
            "channel": channel,
        }
    )


def inject(df: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Turn every row of ``df`` into an anomaly of a random kind."""
    df = df.copy()
    kinds = rng.choice(ANOMALY_KINDS, size=len(df))
    for i, kind in zip(df.index, kinds):
        if kind == "extreme":
            col = rng.choice(["amount", "latency_ms", "discount"])
            df.loc[i, col] = {"amount": 900.0, "latency_ms": 600.0, "discount": 0.95}[col] * rng.uniform(0.8, 1.2)
        elif kind == "broken_correlation":
            df.loc[i, "amount"] = round(float(df.loc[i, "amount"]) * 0.2, 2)
            df.loc[i, "items"] = int(df.loc[i, "items"]) + 6
        elif kind == "wrong_channel_range":
            df.loc[i, "latency_ms"] = round(float(df.loc[i, "latency_ms"]) + 150.0, 1)
            df.loc[i, "hour"] = round(float(rng.uniform(2, 4)), 2)
        else:
            df.loc[i, "region"] = "offshore"
            df.loc[i, "amount"] = round(float(df.loc[i, "amount"]) * 3, 2)
    return df


def make_split(n: int, anomaly_share: float, rng: np.random.Generator) -> pd.DataFrame:
    df = normal_rows(n, rng)
    n_anom = int(round(anomaly_share * n))
    idx = rng.choice(n, size=n_anom, replace=False)
    df.loc[idx] = inject(df.loc[idx], rng)
    df["label"] = 0
    df.loc[idx, "label"] = 1
    for col in ["amount", "distance_km", "latency_ms", "discount"]:
        df.loc[rng.random(n) < 0.03, col] = np.nan
    for col in ["region", "channel"]:
        df.loc[rng.random(n) < 0.02, col] = np.nan
    return df


def generate(folder: Path = DATA_DIR, seed: int = 0) -> dict[str, Path]:
    """Write the train (2% anomalies) and test (10% anomalies) CSV files; return their paths."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"train": folder / "transactions_train.csv", "test": folder / "transactions_test.csv"}
    make_split(3000, 0.02, rng).to_csv(paths["train"], index=False)
    make_split(1000, 0.10, rng).to_csv(paths["test"], index=False)
    return paths


if __name__ == "__main__":
    for name, path in generate().items():
        print(f"{name}: {path}")
