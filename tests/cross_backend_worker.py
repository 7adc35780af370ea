"""Run under one Keras backend by ``test_cross_backend.py``: save a model, or check all saved ones.

``python -m tests.cross_backend_worker save DIR`` trains a small VAE, saves
``DIR/<backend>.keras`` and its scores, and reports its initial weights.
``... check DIR`` loads every saved model, compares its scores with the saved
ones and trains it one more epoch.
"""

import json
import sys
from pathlib import Path

import keras
import numpy as np

from anomaly_vae import VAE, load_vae, save_vae
from anomaly_vae.persistence import compile_vae
from anomaly_vae.scoring import ScoreModel, predict_scores

X = np.random.default_rng(0).normal(size=(256, 5)).astype("float32")


def save(folder: Path) -> dict:
    backend = keras.backend.backend()
    vae = VAE(n_features=5, latent_dim=2, hidden_units=(16, 8), n_score_samples=8, seed=1)
    vae.build((None, 5))
    initial = [float(np.sum(keras.ops.convert_to_numpy(w))) for w in vae.weights]
    compile_vae(vae).fit(X, epochs=2, batch_size=64, verbose=0)
    save_vae(vae, folder / f"{backend}.keras")
    np.save(folder / f"{backend}.npy", predict_scores(ScoreModel(vae), X))
    return {"saved": backend, "initial_weight_sums": initial}


def check(folder: Path) -> dict:
    report = {}
    for path in sorted(folder.glob("*.keras")):
        vae = load_vae(path)
        scores = predict_scores(ScoreModel(vae), X)
        loss = compile_vae(vae).fit(X, epochs=1, batch_size=64, verbose=0).history["loss"][-1]
        report[path.stem] = {
            "max_abs_diff": float(np.max(np.abs(scores - np.load(path.with_suffix(".npy"))))),
            "loss_after_more_training": float(loss),
        }
    return report


if __name__ == "__main__":
    mode, folder = sys.argv[1], Path(sys.argv[2])
    print(json.dumps({"save": save, "check": check}[mode](folder)))
