"""Run by tests/test_multi_device.py in a fresh process (device count is fixed when JAX starts).

``fit FOLDER``: fit one detector on one device and one with ``data_parallel=True`` on all (4 virtual CPU
devices under ``XLA_FLAGS``), same seed and global batch; save the second; print both histories and scores.
``score FOLDER``: load the saved detector on one device and print its scores.
"""

import json
import sys
from pathlib import Path

import numpy as np

from anomaly_vae import VAEAnomalyDetector
from anomaly_vae.persistence.model_files import load_detector, save_detector

X = np.random.default_rng(0).normal(size=(1280, 6))
PARAMS = dict(epochs=2, batch_size=128, random_state=0, patience=None)

if __name__ == "__main__":
    import keras

    mode, folder = sys.argv[1], Path(sys.argv[2])
    devices = len(keras.distribution.list_devices())
    if mode == "fit":
        one = VAEAnomalyDetector(**PARAMS).fit(X)
        sharded = VAEAnomalyDetector(data_parallel=True, **PARAMS).fit(X)
        save_detector(sharded, folder)
        report = {
            "devices": devices,
            "one": one.history_["loss"],
            "sharded": sharded.history_["loss"],
            "scores": sharded.anomaly_score(X[:64]).tolist(),
        }
    else:
        report = {"devices": devices, "scores": load_detector(folder).anomaly_score(X[:64]).tolist()}
    print(json.dumps(report))
