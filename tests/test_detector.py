"""``VAEAnomalyDetector``: the scikit-learn contract, scores, threshold and bad input."""

import pickle
import subprocess
import sys

import keras
import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import MinMaxScaler, QuantileTransformer, RobustScaler

from anomaly_vae import VAEAnomalyDetector
from tests.helpers import small_detector

pytestmark = pytest.mark.backend  # the model's maths: `make test` runs it on every backend


@pytest.fixture
def fitted(normal_frame):
    return small_detector().fit(normal_frame)


def test_fit_sets_learned_attributes(fitted, normal_frame):
    assert fitted.n_features_in_ == 4
    assert list(fitted.feature_names_in_) == ["a", "b", "c", "d"]
    assert {"loss", "reconstruction_loss", "kl_loss", "val_loss"} <= set(fitted.history_)
    assert fitted.n_epochs_ == len(fitted.history_["loss"])
    assert len(fitted.validation_scores_) == int(0.1 * len(normal_frame))
    h = fitted.history_  # val_elbo: the KL at full weight, what the score measures
    np.testing.assert_allclose(h["val_elbo"], np.add(h["val_reconstruction_loss"], h["val_kl_loss"]), rtol=1e-6)


def test_score_conventions(fitted, normal_frame):
    anomaly = fitted.anomaly_score(normal_frame)
    np.testing.assert_array_equal(fitted.score_samples(normal_frame), -anomaly)
    np.testing.assert_allclose(
        fitted.decision_function(normal_frame), fitted.score_samples(normal_frame) - fitted.offset_
    )
    assert fitted.offset_ == -fitted.threshold_
    predicted = fitted.predict(normal_frame)
    assert set(np.unique(predicted)) <= {-1, 1}
    np.testing.assert_array_equal(predicted == -1, anomaly > fitted.threshold_)


def test_auto_threshold_is_the_calibration_quantile(fitted, normal_frame):
    assert len(fitted.calibration_scores_) == int(0.1 * len(normal_frame))
    assert fitted.threshold_ == pytest.approx(np.quantile(fitted.calibration_scores_, 1 - fitted.target_fpr))
    assert (fitted.threshold_rule_, fitted.target_fpr_, fitted.tail_) == ("quantile", 0.01, None)


def test_float_contamination_flags_that_share_of_training_rows(normal_data):
    det = small_detector(contamination=0.1).fit(normal_data)
    assert (det.predict(normal_data) == -1).mean() == pytest.approx(0.1, abs=0.01)


def test_obvious_outliers_score_higher(fitted):
    rows = pd.DataFrame([[0.0, 0.0, 0.0, 0.0], [6.0, -6.0, 6.0, -6.0]], columns=list("abcd"))
    normal_score, outlier_score = fitted.anomaly_score(rows)
    assert outlier_score > normal_score
    assert fitted.predict(rows).tolist() == [1, -1]


def test_feature_scores_explain_the_score(fitted, normal_frame):
    rows = normal_frame.iloc[:10].copy()
    rows.loc[rows.index[3], "c"] = 8.0
    features = fitted.feature_scores(rows)
    assert list(features.columns) == ["a", "b", "c", "d"] and features.index.equals(rows.index)
    assert features.loc[rows.index[3]].idxmax() == "c"
    # per-feature NLL + KL adds up to the ELBO score
    kl_scores = fitted.set_params(score_rule="kl").anomaly_score(rows)
    fitted.set_params(score_rule="elbo")
    np.testing.assert_allclose(features.sum(axis=1) + kl_scores, fitted.anomaly_score(rows), rtol=1e-5, atol=1e-4)


def test_numpy_input_gets_generic_feature_names(normal_data):
    det = small_detector().fit(normal_data)
    assert not hasattr(det, "feature_names_in_")
    assert list(det.feature_scores(normal_data[:2]).columns) == ["x0", "x1", "x2", "x3"]


def test_refit_with_same_random_state_is_reproducible(normal_data):
    a = small_detector(random_state=3).fit(normal_data).anomaly_score(normal_data)
    b = small_detector(random_state=3).fit(normal_data).anomaly_score(normal_data)
    np.testing.assert_array_equal(a, b)


def test_activation_reaches_the_network_and_a_bad_name_is_refused(normal_data):
    det = small_detector(activation="tanh").fit(normal_data)
    assert det.vae_.activation == "tanh" and det.vae_.encoder.hidden[0].activation is keras.activations.tanh
    assert not np.allclose(det.anomaly_score(normal_data), small_detector().fit(normal_data).anomaly_score(normal_data))
    with pytest.raises(ValueError, match="activation"):
        small_detector(activation="no_such_activation").fit(normal_data)


def test_pickle_round_trip_scores_the_same(fitted, normal_frame):
    clone = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(clone.anomaly_score(normal_frame), fitted.anomaly_score(normal_frame))


def test_set_threshold_targets_a_false_positive_rate(fitted, normal_frame):
    fitted.set_threshold(normal_frame, target_fpr=0.2)
    assert (fitted.predict(normal_frame) == -1).mean() == pytest.approx(0.2, abs=0.01)


def test_constant_columns_train_without_nan(normal_data):
    X = np.column_stack([normal_data, np.full(len(normal_data), 3.0)])
    det = small_detector().fit(X)
    assert np.isfinite(det.history_["loss"]).all()
    moved = X[:1].copy()
    moved[0, -1] = 4.0  # the constant column moves
    scores = det.anomaly_score(np.vstack([X[:1], moved]))
    assert np.isfinite(scores).all() and scores[1] > scores[0]


def test_extreme_values_score_finite(fitted):
    rows = pd.DataFrame([[1e30, -1e30, 1e300, 0.0]], columns=list("abcd"))
    assert np.isfinite(fitted.anomaly_score(rows)).all()


@pytest.mark.parametrize("likelihood", ["heteroscedastic", "mse", "bernoulli"])
@pytest.mark.parametrize("preprocessing", ["robust", "quantile"])
def test_other_likelihoods_and_transforms(likelihood, preprocessing, normal_data):
    det = small_detector(likelihood=likelihood, preprocessing=preprocessing).fit(normal_data)
    expected = {"bernoulli": MinMaxScaler}.get(
        likelihood, {"robust": RobustScaler, "quantile": QuantileTransformer}[preprocessing]
    )
    assert type(det.scaler_) is expected
    extreme = np.array([[1e300, -1e300, 1e30, 0.0]])[:, : normal_data.shape[1]]
    with np.errstate(over="ignore", invalid="ignore"):
        assert np.isfinite(det.anomaly_score(np.vstack([normal_data, extreme]))).all()


@pytest.mark.reliability
@pytest.mark.parametrize(
    "bad, message",
    [
        (lambda X: np.where(np.arange(X.size).reshape(X.shape) == 9, np.nan, X), r"NaN at row 2, column 'x1'"),
        (lambda X: np.where(np.arange(X.size).reshape(X.shape) == 4, np.inf, X), r"inf at row 1, column 'x0'"),
        (lambda X: X[:, :3], "3 features"),
        (lambda X: X.astype(str).astype(object) + "x", "could not convert|Unable to convert|string"),
        (lambda X: X[:0], "0 sample"),
    ],
    ids=["nan", "inf", "wrong-width", "strings", "empty"],
)
def test_bad_input_to_a_fitted_detector_raises_clearly(bad, message, normal_data):
    det = small_detector().fit(normal_data)
    before = det.threshold_
    with pytest.raises(ValueError, match=message):
        det.anomaly_score(bad(normal_data))
    assert det.threshold_ == before


@pytest.mark.reliability
def test_bad_training_input_leaves_an_unfitted_detector(normal_data):
    det = small_detector()
    X = normal_data.copy()
    X[5, 2] = np.nan
    with pytest.raises(ValueError, match="NaN at row 5"):
        det.fit(X)
    assert not hasattr(det, "vae_")
    with pytest.raises(ValueError, match="minimum of 2"):
        det.fit(normal_data[:1])
    with pytest.raises(ValueError, match="likelihood"):
        small_detector(likelihood="poisson").fit(normal_data)
    with pytest.raises(ValueError, match="hidden_units"):
        small_detector(hidden_units=(8, 0)).fit(normal_data)


@pytest.mark.reliability
def test_reordered_dataframe_columns_are_refused(fitted, normal_frame):
    with pytest.raises(ValueError, match="feature names"):
        fitted.anomaly_score(normal_frame[["b", "a", "c", "d"]])


def test_init_stores_parameters_verbatim():
    params = dict(latent_dim=3, hidden_units=[5], beta=0.3, contamination=0.2)
    det = VAEAnomalyDetector(**params)
    assert {k: det.get_params()[k] for k in params} == params


def test_auto_epochs_count_steps_and_repeat_small_training_sets():
    from anomaly_vae.detectors.base_detector import AUTO_MIN_PASSES, AUTO_MIN_STEPS_PER_EPOCH, AUTO_STEPS

    det = VAEAnomalyDetector(epochs="auto", patience="auto", batch_size=128)
    rows = det._epoch_rows(n_train=100)
    assert rows % 128 == 0 and AUTO_MIN_STEPS_PER_EPOCH * 128 <= rows < AUTO_MIN_STEPS_PER_EPOCH * 128 + 100 + 128
    assert det._epoch_rows(n_train=AUTO_MIN_STEPS_PER_EPOCH * 128 + 1) == AUTO_MIN_STEPS_PER_EPOCH * 128 + 1
    assert det._schedule(steps_per_epoch=AUTO_STEPS // 200) == (200, 20)
    assert det._schedule(steps_per_epoch=128, passes_per_epoch=16.0) == (-(-AUTO_STEPS // 128), 10)
    assert det._schedule(steps_per_epoch=10 * AUTO_STEPS) == (AUTO_MIN_PASSES, 10)  # a large set: passes rule
    fixed = VAEAnomalyDetector(epochs=7, patience=3)
    assert fixed._epoch_rows(n_train=5) == 5 and fixed._schedule(steps_per_epoch=5) == (7, 3)


@pytest.mark.skipif(keras.backend.backend() == "tensorflow", reason="TensorFlow is the backend itself")
def test_fitting_does_not_import_tensorflow():
    """Keras' set_random_seed imports TensorFlow whenever it is installed: seconds for nothing."""
    code = (
        "import sys, numpy as np; from anomaly_vae import VAEAnomalyDetector; "
        "X = np.random.default_rng(0).normal(size=(60, 3)); "
        "VAEAnomalyDetector(epochs=1, random_state=0).fit(X).anomaly_score(X); "
        "print('tensorflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_categorical_groups_pass_unscaled_and_a_rare_category_scores_higher(normal_data):
    rng = np.random.default_rng(1)
    category = (rng.random(len(normal_data)) < 0.05).astype(int)  # category 1 is rare
    X = np.column_stack([normal_data, np.eye(2)[category]])
    det = small_detector(categorical_groups=[[4, 5]], epochs=20).fit(X)
    assert det.scaler_.n_features_in_ == 4 and det.vae_.categorical_groups == ((4, 5),)
    common, rare = X[:1].copy(), X[:1].copy()
    common[0, 4:] = [1, 0]
    rare[0, 4:] = [0, 1]
    features = det.feature_scores(np.vstack([common, rare]))
    assert features.iloc[1, 5] > features.iloc[0, 4] > 0  # the group's NLL sits on the row's category column
    assert det.anomaly_score(rare)[0] > det.anomaly_score(common)[0]
    unseen = common.copy()
    unseen[0, 4:] = 0  # a category not seen in training
    assert det.anomaly_score(unseen)[0] > det.anomaly_score(common)[0]
    with pytest.raises(ValueError, match="only 0 and 1"):
        small_detector(categorical_groups=[[0, 1]]).fit(X)
    with pytest.raises(ValueError, match="out of range"):
        small_detector(categorical_groups=[[4, 6]]).fit(X)


def test_kl_warmup_starts_the_training_loss_without_kl(normal_data):
    det = small_detector(kl_warmup=0.4, epochs=5, patience=None).fit(normal_data)
    h = det.history_
    np.testing.assert_allclose(h["loss"][0], h["reconstruction_loss"][0], rtol=1e-5)
    np.testing.assert_allclose(h["loss"][-1], h["reconstruction_loss"][-1] + det.beta * h["kl_loss"][-1], rtol=1e-4)


def test_a_small_request_scores_as_the_same_rows_in_a_large_one(normal_data, backend):
    """Inputs of at most ``SMALL_SCORE_BATCH_SIZE`` rows run at that shape, larger ones at the large shape: the two
    agree within float32 rounding (bitwise on torch, measured; a few units in the last place on JAX and TensorFlow)."""
    from anomaly_vae.detectors.scoring import SMALL_SCORE_BATCH_SIZE

    detector = small_detector().fit(normal_data)
    large = np.concatenate([normal_data] * (SMALL_SCORE_BATCH_SIZE // len(normal_data) + 1))
    assert len(large) > SMALL_SCORE_BATCH_SIZE
    in_large = detector.score_samples(large)[: len(normal_data)]
    in_small = np.concatenate([detector.score_samples(normal_data[:1]), detector.score_samples(normal_data[1:])])
    np.testing.assert_allclose(in_small, in_large, rtol=1e-6, atol=0)
    if backend == "torch":
        np.testing.assert_array_equal(in_small, in_large)
