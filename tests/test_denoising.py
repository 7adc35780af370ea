"""Training-time corruption (the denoising VAE) and ``denoise``."""

import numpy as np
import pytest
from keras import ops

from anomaly_vae import VAE
from anomaly_vae.persistence.model_files import load_detector, save_detector
from tests.helpers import small_detector

pytestmark = pytest.mark.backend  # the model's maths: `make test` runs it on every backend


@pytest.mark.parametrize("missing", [False, True])
def test_corrupt_hides_the_asked_share_and_adds_the_asked_noise(missing):
    vae = VAE(n_features=50, latent_dim=2, corruption_mask=0.3, missing=missing, seed=0)
    hidden = ops.convert_to_numpy(vae.corrupt(ops.ones((400, 50))))
    gone = np.isnan(hidden) if missing else hidden == 0
    assert abs(gone.mean() - 0.3) < 0.01  # 20,000 entries: 4.5 standard errors
    assert np.isin(hidden[~gone], [1.0]).all()
    noisy = ops.convert_to_numpy(
        VAE(n_features=50, latent_dim=2, corruption_noise=0.5, seed=0).corrupt(ops.zeros((400, 50)))
    )
    assert abs(noisy.std() - 0.5) < 0.02 and abs(noisy.mean()) < 0.02
    plain = np.ones((3, 50), dtype="float32")
    np.testing.assert_array_equal(ops.convert_to_numpy(VAE(n_features=50, latent_dim=2).corrupt(plain)), plain)


def test_corruption_is_refused_out_of_range():
    with pytest.raises(ValueError, match="corruption_mask must be in"):
        VAE(n_features=3, corruption_mask=1.0)
    with pytest.raises(ValueError, match="corruption_noise must be >= 0"):
        VAE(n_features=3, corruption_noise=-0.1)


def test_a_denoising_detector_maps_noisy_rows_towards_clean_ones(tmp_path):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(1000, 2))
    clean = z @ rng.normal(size=(2, 6)) + 0.05 * rng.normal(size=(1000, 6))
    det = small_detector(epochs=30, hidden_units=(32,), corruption_noise=0.3).fit(clean)
    assert det.vae_.corruption_noise == 0.3
    noisy = clean[:300] + 0.5 * clean.std(axis=0) * rng.normal(size=(300, 6))
    scale = clean.std(axis=0)
    before = np.sqrt(np.mean(((noisy - clean[:300]) / scale) ** 2))
    after = np.sqrt(np.mean(((det.denoise(noisy) - clean[:300]) / scale) ** 2))
    assert after < 0.9 * before, (after, before)  # six columns driven by two factors: the code averages the noise out
    loaded = load_detector(save_detector(det, tmp_path / "model"))
    assert loaded.vae_.corruption_noise == 0.3
    np.testing.assert_array_equal(loaded.denoise(noisy), det.denoise(noisy))
