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
from anomaly_vae.detectors.scoring import ScoreModel, predict_scores
from anomaly_vae.persistence.model_files import compile_vae

X = np.random.default_rng(0).normal(size=(256, 5)).astype("float32")


def digits() -> np.ndarray:
    """scikit-learn's bundled 8 x 8 digits as float images in [0, 1], (n, 8, 8, 1)."""
    from sklearn.datasets import load_digits

    return (load_digits().images[:256, :, :, None] / 16.0).astype("float32")


def models():
    """The tabular VAE and a convolutional one on 8 x 8 images, with their training data."""
    from anomaly_vae.network.conv_parts import ConvDecoder, ConvEncoder

    table = VAE(n_features=5, latent_dim=2, hidden_units=(16, 8), n_score_samples=8, seed=1)
    encoder = ConvEncoder((8, 8, 1), 4, filters=(8,), dense_units=16, seed=1)
    decoder = ConvDecoder((8, 8, 1), 4, filters=(8,), dense_units=16, seed=1, seed_start=encoder.seeds_used)
    image = VAE(encoder=encoder, decoder=decoder, latent_dim=4, likelihood="bernoulli", n_score_samples=8, seed=1)
    return {"table": (table, X), "image": (image, digits())}


def save(folder: Path) -> dict:
    backend = keras.backend.backend()
    initial = []
    for kind, (vae, data) in models().items():
        vae.build((None, *data.shape[1:]))
        initial += [float(np.sum(keras.ops.convert_to_numpy(w))) for w in vae.weights]
        compile_vae(vae).fit(data, epochs=2, batch_size=64, verbose=0)
        save_vae(vae, folder / f"{backend}_{kind}.keras")
        np.save(folder / f"{backend}_{kind}.npy", predict_scores(ScoreModel(vae), data))
    return {"saved": backend, "initial_weight_sums": initial}


def check(folder: Path) -> dict:
    report = {}
    data = {"table": X, "image": digits()}
    for path in sorted(folder.glob("*.keras")):
        vae = load_vae(path)
        x = data[path.stem.split("_")[1]]
        scores = predict_scores(ScoreModel(vae), x)
        loss = compile_vae(vae).fit(x, epochs=1, batch_size=64, verbose=0).history["loss"][-1]
        saved = np.load(path.with_suffix(".npy"))
        report[path.stem] = {
            "max_rel_diff": float(np.max(np.abs(scores - saved) / np.maximum(np.abs(saved), 1.0))),
            "loss_after_more_training": float(loss),
        }
    return report


if __name__ == "__main__":
    mode, folder = sys.argv[1], Path(sys.argv[2])
    print(json.dumps({"save": save, "check": check}[mode](folder)))
