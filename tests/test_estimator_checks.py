"""scikit-learn's own estimator suite, run on the active Keras backend."""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from anomaly_vae import VAEAnomalyDetector, VAEImputer

pytestmark = pytest.mark.backend  # the model's maths: `make test` runs it on every backend

# Nothing is expected to fail: keep this empty, or give each entry a one-line reason.
EXPECTED_FAILED_CHECKS: dict[str, str] = {}


@parametrize_with_checks(
    [
        VAEAnomalyDetector(epochs=3, hidden_units=(8,), latent_dim=2, n_samples=4, patience=None, random_state=0),
        VAEImputer(epochs=3, hidden_units=(8,), latent_dim=2, n_draws=16, patience=None, random_state=0),
    ],
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
