"""Mixed precision against float32 on the current Keras backend: training and scoring rows/s, and score drift.

    KERAS_BACKEND=jax python benchmarks/precision.py
    KERAS_BACKEND=jax python benchmarks/precision.py --hidden-units 1024,512 --rows 1048576

``mixed_bfloat16`` computes the layers in bfloat16 and keeps weights, the loss and the scores in
float32. It pays on GPUs with bfloat16 matrix units once layers are wide; on a CPU it is usually
slower. The float32 model is the baseline of the same run; both start from the same weights.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed import D, make_data  # noqa: E402


def measure(policy: str, x: np.ndarray, hidden: tuple[int, ...], batch: int, epochs: int) -> dict:
    from anomaly_vae import VAE
    from anomaly_vae.detectors.base_detector import STEPS_PER_EXECUTION
    from anomaly_vae.detectors.scoring import ScoreModel, predict_scores
    from anomaly_vae.network.steps import device_description
    from anomaly_vae.persistence.model_files import compile_vae

    vae = VAE(n_features=D, latent_dim=8, hidden_units=hidden, seed=0, dtype=policy)
    vae.build((None, D))
    compile_vae(vae, steps_per_execution=STEPS_PER_EXECUTION)
    h = vae.fit(x, batch_size=batch, epochs=1, verbose=0)  # warm-up: compile
    times = []
    for _ in range(epochs):
        t = time.perf_counter()
        h = vae.fit(x, batch_size=batch, epochs=1, verbose=0)
        times.append(time.perf_counter() - t)
    scorer = ScoreModel(vae)
    predict_scores(scorer, x[:10_000])
    t = time.perf_counter()
    scores = predict_scores(scorer, x)
    score_s = time.perf_counter() - t
    return {
        "policy": policy,
        "device": device_description(),
        "train_rows_s": len(x) / float(np.median(times)),
        "score_rows_s": len(x) / score_s,
        "final_loss": float(h.history["loss"][-1]),
        "finite_scores": bool(np.isfinite(scores).all()),
        "scores": scores,
    }


def main(argv=None) -> None:
    import keras

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_704)
    parser.add_argument("--hidden-units", default="64,32")
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs, after one warm-up")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/precision.csv"))
    args = parser.parse_args(argv)
    hidden = tuple(int(u) for u in args.hidden_units.split(","))
    x = make_data(args.rows)
    rows = [measure(p, x, hidden, args.batch_size, args.epochs) for p in ("float32", "mixed_bfloat16")]
    base, base_scores = rows[0], pd.Series(rows[0]["scores"])
    for r in rows:
        r["train_x_float32"] = r["train_rows_s"] / base["train_rows_s"]
        r["score_x_float32"] = r["score_rows_s"] / base["score_rows_s"]
        r["score_rank_corr"] = float(pd.Series(r.pop("scores")).corr(base_scores, method="spearman"))
    table = pd.DataFrame(rows).set_index("policy")
    pd.set_option("display.width", 250)
    print(f"backend {keras.backend.backend()}, hidden {hidden}, batch {args.batch_size}, {args.rows:,} rows")
    print(table.round(3).to_string())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out)
    print(f"CSV written to {args.out}")


if __name__ == "__main__":
    main()
