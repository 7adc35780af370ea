"""A fit stopped after an epoch and resumed from its ``BackupAndRestore`` checkpoint ends with the model of a fit
never stopped: same weights, same early-stopping choice, same scores (tables, images, series)."""

import keras
import numpy as np
import pytest
from sklearn.datasets import load_digits

from anomaly_vae import VAEAnomalyDetector, VAEImageDetector, VAESeriesDetector
from anomaly_vae.network.resume import STATE_FILE

pytestmark = pytest.mark.backend  # the training steps' randomness: `make test` runs this on every backend


class Interrupted(Exception):
    """Stands in for the signal or crash that stops a fit."""


class StopAfter(keras.callbacks.Callback):
    """Raise at the end of epoch ``epoch`` (0-based), after the checkpoint of that epoch was written."""

    def __init__(self, epoch: int):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise Interrupted(f"stopped after epoch {epoch + 1}")


def _table():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(300, 2))
    X = np.hstack([z, z @ [[1.0, 0.5], [-0.5, 1.0]]]) + 0.1 * rng.normal(size=(300, 4))
    return VAEAnomalyDetector(epochs=8, patience=2, hidden_units=(16,), latent_dim=2, n_samples=4, random_state=0), X


def _images():
    digits = load_digits()
    zeros = (digits.images[digits.target == 0] / 16.0).astype("float32")[:120]
    params = dict(epochs=8, patience=2, filters=(8,), dense_units=16, latent_dim=4, n_samples=4, random_state=0)
    return VAEImageDetector(**params), zeros


def _series():
    t = np.arange(500)
    x = np.sin(2 * np.pi * t / 20) + 0.05 * np.random.default_rng(0).normal(size=500)
    params = dict(window=16, epochs=8, patience=2, filters=(8,), dense_units=16, latent_dim=4, n_samples=4)
    return VAESeriesDetector(random_state=0, **params), x[:, None]


@pytest.mark.parametrize("make", [_table, _images, _series], ids=["table", "images", "series"])
def test_a_resumed_fit_ends_with_the_uninterrupted_model(make, tmp_path):
    if keras.backend.backend() == "tensorflow":
        pytest.skip(
            "TensorFlow shuffles inside a tf.data pipeline that no reseeding reaches (anomaly_vae.network.resume)"
        )
    reference, X = make()
    reference.fit(X)

    stopped, _ = make()
    backup = str(tmp_path / "checkpoint")
    with pytest.raises(Interrupted):
        stopped.fit(X, callbacks=[keras.callbacks.BackupAndRestore(backup), StopAfter(1)])
    assert (tmp_path / "checkpoint" / STATE_FILE).exists()  # generators and early stopping beside Keras' checkpoint

    resumed, _ = make()
    resumed.fit(X, callbacks=[keras.callbacks.BackupAndRestore(backup)])
    assert not (tmp_path / "checkpoint").exists()  # Keras removes a finished fit's checkpoint
    assert resumed.n_epochs_ == reference.n_epochs_
    assert resumed.training_plan_["epoch_kept"] == reference.training_plan_["epoch_kept"]
    n_resumed = resumed.n_epochs_ - 2  # the epochs run after the resume
    np.testing.assert_allclose(resumed.history_["val_loss"], reference.history_["val_loss"][-n_resumed:], rtol=1e-5)
    for got, want in zip(resumed.vae_.get_weights(), reference.vae_.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(resumed.anomaly_score(X[:50]), reference.anomaly_score(X[:50]), rtol=1e-5)
    assert resumed.threshold_ == pytest.approx(reference.threshold_, rel=1e-5)
