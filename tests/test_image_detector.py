"""``VAEImageDetector`` on scikit-learn's bundled 8 x 8 digits: the detector contract, maps, input errors."""

import pickle

import numpy as np
import pytest
from scipy.ndimage import uniform_filter
from sklearn.datasets import load_digits
from sklearn.metrics import roc_auc_score

from anomaly_vae import VAEImageDetector, load_detector, save_detector
from anomaly_vae.detectors.scoring import REGION_SIDE, ScoreModel, predict_scores, worst_count

pytestmark = pytest.mark.backend  # the model's maths: `make test` runs it on every backend

DIGITS = load_digits()
IMAGES = (DIGITS.images / 16.0).astype("float32")  # (1797, 8, 8) in [0, 1]
ZEROS = IMAGES[DIGITS.target == 0]


def small_image_detector(**params):
    defaults = dict(epochs=8, filters=(8,), dense_units=32, latent_dim=4, n_samples=4, random_state=0)
    return VAEImageDetector(**{**defaults, **params})


@pytest.fixture(scope="module")
def fitted():
    return small_image_detector(epochs=30).fit(ZEROS[:120])


def test_fits_on_one_digit_and_ranks_the_others_higher(fitted):
    test = np.concatenate([ZEROS[120:], IMAGES[DIGITS.target != 0][:300]])
    labels = np.r_[np.zeros(len(ZEROS) - 120), np.ones(300)]
    scores = fitted.anomaly_score(test)
    assert scores.shape == (len(test),) and np.isfinite(scores).all()
    assert roc_auc_score(labels, scores) > 0.95
    assert fitted.image_shape_ == (8, 8, 1) and fitted.n_features_in_ == 64


def test_the_sklearn_contract_holds(fitted):
    x = IMAGES[:40]
    np.testing.assert_allclose(fitted.decision_function(x), fitted.score_samples(x) - fitted.offset_)
    np.testing.assert_array_equal(fitted.score_samples(x), -fitted.anomaly_score(x))
    assert set(np.unique(fitted.predict(x))) <= {-1, 1}
    assert fitted.threshold_ == -fitted.offset_
    fitted_copy = pickle.loads(pickle.dumps(fitted))
    fitted_copy.set_threshold(ZEROS[120:], target_fpr=0.5)
    assert (fitted_copy.predict(ZEROS[120:]) == -1).mean() == pytest.approx(0.5, abs=0.05)


def test_the_score_is_the_maps_worst_regions_and_the_map_plus_the_kl_is_the_elbo(fitted):
    x = IMAGES[:25]
    scores, maps = fitted.score_with_maps(x)
    assert maps.shape == (25, 8, 8) and np.isfinite(maps).all()
    assert fitted.score_rule == "worst_region"  # the default
    k = worst_count(64)
    assert k == 6
    # each pixel's NLL averaged over its REGION_SIDE x REGION_SIDE neighbourhood (zeros beyond the edges), then the
    # k highest of those summed
    regions = uniform_filter(maps, size=(1, REGION_SIDE, REGION_SIDE), mode="constant")
    assert not np.allclose(regions, maps)
    np.testing.assert_allclose(np.sort(regions.reshape(25, -1), axis=1)[:, -k:].sum(axis=1), scores, rtol=1e-5)
    worst = predict_scores(ScoreModel(fitted.vae_, score="worst"), x[..., None])
    np.testing.assert_allclose(np.sort(maps.reshape(25, -1), axis=1)[:, -k:].sum(axis=1), worst, rtol=1e-5)
    kl = predict_scores(ScoreModel(fitted.vae_, score="kl"), x[..., None])
    elbo = predict_scores(ScoreModel(fitted.vae_, score="elbo"), x[..., None])
    np.testing.assert_allclose(maps.sum(axis=(1, 2)) + kl, elbo, rtol=1e-5)
    np.testing.assert_allclose(fitted.anomaly_map(x), maps)


def test_uint8_and_float_images_score_alike_and_reconstruct_in_their_own_units(fitted):
    as_uint8 = np.round(IMAGES[:10] * 255).astype(np.uint8)
    np.testing.assert_allclose(fitted.anomaly_score(as_uint8), fitted.anomaly_score(as_uint8 / 255.0), rtol=1e-6)
    np.testing.assert_allclose(fitted.anomaly_score(IMAGES[:10]), fitted.anomaly_score(IMAGES[:10, :, :, None]))
    rec = fitted.reconstruct(as_uint8)
    assert rec.shape == (10, 8, 8) and rec.dtype == np.uint8
    rec_float = fitted.reconstruct(IMAGES[:10, :, :, None])
    assert rec_float.shape == (10, 8, 8, 1) and 0.0 <= rec_float.min() and rec_float.max() <= 1.0
    # a zero is reconstructed closer to itself than to another digit's image
    errors = np.abs(fitted.reconstruct(ZEROS[120:140]) - ZEROS[120:140]).mean()
    assert errors < np.abs(fitted.reconstruct(ZEROS[120:140]) - IMAGES[DIGITS.target == 1][:20]).mean()


def test_scores_do_not_depend_on_the_batch(fitted):
    x = IMAGES[:300]
    full = fitted.anomaly_score(x)
    np.testing.assert_allclose(full[:7], fitted.anomaly_score(x[:7]), rtol=1e-6)
    np.testing.assert_allclose(full[::-1], fitted.anomaly_score(x[::-1]), rtol=1e-6)


def test_save_load_and_pickle_score_the_same(fitted, tmp_path):
    x = IMAGES[:30]
    expected = fitted.anomaly_score(x)
    loaded = load_detector(save_detector(fitted, tmp_path / "det"))
    assert type(loaded) is VAEImageDetector and loaded.image_shape_ == (8, 8, 1)
    assert loaded.get_params() == fitted.get_params()
    np.testing.assert_allclose(loaded.anomaly_score(x), expected, rtol=1e-6)
    np.testing.assert_allclose(loaded.anomaly_map(x), fitted.anomaly_map(x), rtol=1e-6)
    assert loaded.threshold_ == fitted.threshold_
    np.testing.assert_allclose(pickle.loads(pickle.dumps(fitted)).anomaly_score(x), expected, rtol=1e-6)


def test_rgb_images_of_odd_sizes_fit_and_come_back_the_same_size():
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(40, 7, 9, 3)).astype("float32")
    det = small_image_detector(epochs=2, filters=(4, 8)).fit(images)
    assert det.anomaly_map(images[:3]).shape == (3, 7, 9)
    assert det.reconstruct(images[:3]).shape == (3, 7, 9, 3)
    for likelihood in ("gaussian", "heteroscedastic", "mse"):
        other = small_image_detector(epochs=2, likelihood=likelihood).fit(images)
        assert np.isfinite(other.anomaly_score(images[:5])).all()


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.full((3, 8, 8), np.nan), "Image 0 holds NaN"),
        (np.concatenate([IMAGES[:2], np.full((1, 8, 8), 2.0)]), r"Image 2 has values outside \[0, 1\]"),
        (IMAGES[:3].astype(np.int16), "must be uint8"),
        (IMAGES[:3].reshape(3, 64), r"shape \(n, height, width\)"),
        ([IMAGES[0], IMAGES[1][:7]], "image 0 is \\(8, 8\\) but image 1 is \\(7, 8\\)"),
        (IMAGES[:1], "minimum of 2"),
    ],
)
def test_bad_images_are_refused_naming_the_image(bad, message):
    with pytest.raises(ValueError, match=message):
        small_image_detector().fit(bad)


def test_scoring_images_of_another_size_is_refused(fitted):
    with pytest.raises(ValueError, match="images are 9 x 8 with 1 channel.* fitted on 8 x 8 with 1"):
        fitted.anomaly_score(np.zeros((2, 9, 8)))
    x = IMAGES[:3].copy()
    x[1, 2, 3] = np.inf
    with pytest.raises(ValueError, match="Image 1 holds NaN or inf"):
        fitted.predict(x)


def test_an_unfitted_detector_says_so():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        small_image_detector().anomaly_score(IMAGES[:2])


def test_images_share_the_p_values_and_threshold_rules(fitted):
    det = pickle.loads(pickle.dumps(fitted))
    x = IMAGES[:50]
    p = det.p_values(x)
    assert ((p > 0) & (p <= 1)).all()
    np.testing.assert_array_equal(p, np.concatenate([det.p_values(x[:13]), det.p_values(x[13:])]))
    det.set_threshold(ZEROS[120:], rule="conformal", target_fpr=0.1)
    assert len(det.calibration_scores_) == len(ZEROS) - 120 and det.threshold_rule_ == "conformal"
    np.testing.assert_array_equal(det.predict(x) == -1, det.p_values(x) <= 0.1)


def test_images_are_sampled_reconstructed_and_interpolated_in_their_own_units(fitted):
    samples = fitted.sample(6, random_state=0)
    assert samples.shape == (6, 8, 8, 1) and samples.min() >= 0.0 and samples.max() <= 1.0
    np.testing.assert_array_equal(samples, fitted.sample(6, random_state=0))
    as_uint8 = np.round(ZEROS[:2] * 255).astype(np.uint8)
    assert fitted.reconstruct(as_uint8).dtype == np.uint8
    path = fitted.interpolate(ZEROS[0], IMAGES[DIGITS.target == 1][0], n_steps=6)
    assert path.shape == (6, 8, 8)
    np.testing.assert_allclose(path[0], fitted.reconstruct(ZEROS[:1])[0], atol=1e-5)
    assert fitted.encode(ZEROS[:3]).shape == (3, fitted.vae_.latent_dim)
    with pytest.raises(ValueError, match="one image of shape"):
        fitted.interpolate(ZEROS[:2], ZEROS[0])


def test_noise_free_samples_are_the_decoders_means_of_their_codes(fitted):
    codes = np.random.RandomState(5).standard_normal((4, fitted.vae_.latent_dim))  # what sample draws first
    means = fitted.sample(4, random_state=np.random.RandomState(5), noise=False, codes="prior")
    np.testing.assert_allclose(means, fitted.decode(codes), rtol=1e-5, atol=1e-6)
    codes = fitted.latent_mixture_.sample(4, np.random.RandomState(5))  # the default: where training codes lie
    means = fitted.sample(4, random_state=np.random.RandomState(5), noise=False)
    np.testing.assert_allclose(means, fitted.decode(codes), rtol=1e-5, atol=1e-6)
    assert not np.allclose(means, fitted.sample(4, random_state=np.random.RandomState(5)))
