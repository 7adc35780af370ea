"""anomaly-vae: anomaly detection with a Variational Autoencoder on Keras 3.

Imports are lazy, so ``import anomaly_vae`` does not load Keras or a backend
until a model class is used.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"
__all__ = [
    "VAE",
    "VAEAnomalyDetector",
    "VAEImageDetector",
    "VAEImputer",
    "VAESeriesDetector",
    "load_detector",
    "load_imputer",
    "load_vae",
    "save_detector",
    "save_imputer",
    "save_vae",
]

_LOCATIONS = {
    "VAE": "anomaly_vae.network.vae",
    "VAEAnomalyDetector": "anomaly_vae.detectors.table_detector",
    "VAEImageDetector": "anomaly_vae.detectors.image_detector",
    "VAEImputer": "anomaly_vae.detectors.imputer",
    "VAESeriesDetector": "anomaly_vae.detectors.series_detector",
    "load_vae": "anomaly_vae.persistence.model_files",
    "save_vae": "anomaly_vae.persistence.model_files",
    "load_detector": "anomaly_vae.persistence.model_files",
    "save_detector": "anomaly_vae.persistence.model_files",
    "load_imputer": "anomaly_vae.persistence.imputer_persistence",
    "save_imputer": "anomaly_vae.persistence.imputer_persistence",
}


def __getattr__(name: str):
    if name in _LOCATIONS:
        return getattr(importlib.import_module(_LOCATIONS[name]), name)
    raise AttributeError(f"module 'anomaly_vae' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
