"""Helpers shared by test modules (fixtures stay in ``conftest.py``; plain functions live here)."""


def small_detector(**params):
    """A detector that trains in about a second on the fixtures."""
    from anomaly_vae import VAEAnomalyDetector

    defaults = dict(epochs=5, hidden_units=(16,), latent_dim=2, n_samples=4, random_state=0)
    return VAEAnomalyDetector(**{**defaults, **params})
