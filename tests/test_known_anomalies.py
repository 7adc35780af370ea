"""Training with known anomalies (``use_labels``): the labelled loss, the repeated rows, the detector's rules."""

import numpy as np
import pytest
from keras import ops

from anomaly_vae import VAEAnomalyDetector
from anomaly_vae.network import known_anomalies, likelihoods
from anomaly_vae.network.elbo import elbo_loss
from anomaly_vae.network.known_anomalies import labelled_elbo_loss, with_known_anomalies
from tests.helpers import small_detector

pytestmark = pytest.mark.backend  # the training steps read the labels: `make test` runs this on every backend

t = ops.convert_to_tensor


def np_(v):
    return float(ops.convert_to_numpy(v))


def _outputs(rng, members=2, n=6, d=3):
    """What ``VAE.call`` returns for a Gaussian likelihood, with a member axis."""
    return {
        "x_mean": t(rng.normal(size=(members, n, d)).astype("float32")),
        "x_log_var": t(rng.normal(size=(members, 1, d)).astype("float32") * 0.1),
        "z_mean": t(rng.normal(size=(members, n, 2)).astype("float32")),
        "z_log_var": t(rng.normal(size=(members, n, 2)).astype("float32") * 0.1),
    }


def _terms(x, outputs, likelihood):
    """Per member and row: reconstruction NLL and KL, in NumPy."""
    recon = np.asarray(ops.convert_to_numpy(likelihood.nll(x, outputs))).sum(-1)
    zm, zl = (np.asarray(ops.convert_to_numpy(outputs[k])) for k in ("z_mean", "z_log_var"))
    kl = -0.5 * (1 + zl - zm**2 - np.exp(zl)).sum(-1)
    return recon, kl


def test_without_anomalies_in_the_batch_the_loss_is_the_elbo():
    rng = np.random.default_rng(0)
    x, outputs = t(rng.normal(size=(6, 3)).astype("float32")), _outputs(rng)
    likelihood = likelihoods.get("gaussian", (), 3, False)
    expected = [np_(v) for v in elbo_loss(x, outputs, likelihood, 0.5)]
    got = [np_(v) for v in labelled_elbo_loss(x, outputs, likelihood, 0.5, t(np.zeros(6, "float32")))]
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_labelled_rows_leave_the_elbo_terms_and_add_the_deviation_hinge():
    rng = np.random.default_rng(1)
    x, outputs = t(rng.normal(size=(6, 3)).astype("float32")), _outputs(rng)
    likelihood = likelihoods.get("gaussian", (), 3, False)
    labels = np.array([0, 0, 0, 0, 1, 1], dtype="float32")
    loss, recon_loss, kl_loss = (np_(v) for v in labelled_elbo_loss(x, outputs, likelihood, 0.5, t(labels)))

    recon, kl = _terms(x, outputs, likelihood)
    normal = labels == 0
    assert recon_loss == pytest.approx(recon[:, normal].mean(), rel=1e-5)
    assert kl_loss == pytest.approx(kl[:, normal].mean(), rel=1e-5)
    score = recon + kl
    centre = score[:, normal].mean(1, keepdims=True)
    spread = np.sqrt(((score[:, normal] - centre) ** 2).mean(1, keepdims=True) + 1e-6)
    hinge = np.maximum(known_anomalies.MARGIN - (score - centre) / spread, 0)[:, ~normal].mean()
    assert hinge > 0  # random outputs: the anomalies are not yet MARGIN deviations out
    assert loss == pytest.approx(recon_loss + 0.5 * kl_loss + hinge, rel=1e-5)


def test_known_anomalies_are_repeated_to_their_share_in_whole_batches():
    X_train, X_known = np.zeros((1000, 2), "float32"), np.ones((3, 2), "float32")
    X, y = with_known_anomalies(X_train, X_known, batch_size=128, whole_batches=True)
    assert len(X) % 128 == 0 and (y == 1).sum() >= known_anomalies.SHARE / (1 - known_anomalies.SHARE) * 1000
    assert (X[y == 0] == 0).all() and (X[y == 1] == 1).all() and (y[:1000] == 0).all()
    X, y = with_known_anomalies(np.zeros((10, 2), "float32"), np.ones((7, 2), "float32"), 128, whole_batches=False)
    assert len(X) == 17 and (y == 1).sum() == 7  # every known anomaly at least once


def _data(seed=0):
    """Normal rows on a line (x1 = x0), with anomalies of two kinds off it: kind A above, kind B below."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(600, 1))
    normal = np.hstack([z, z, rng.normal(size=(600, 1))]) + rng.normal(scale=0.05, size=(600, 3))

    def kind(offset, n):
        z = rng.normal(size=(n, 1))
        return np.hstack([z, z + offset, rng.normal(size=(n, 1))]) + rng.normal(scale=0.05, size=(n, 3))

    return normal, kind(0.6, 60), kind(-0.6, 60)


def test_use_labels_false_ignores_y_as_scikit_learn_outlier_detectors_do():
    normal, a, _ = _data()
    X, y = np.vstack([normal, a[:10]]), np.r_[np.zeros(600), np.ones(10)]
    plain = small_detector().fit(X).anomaly_score(a)
    ignored = small_detector().fit(X, y).anomaly_score(a)
    np.testing.assert_array_equal(plain, ignored)


def test_known_anomalies_score_higher_and_never_calibrate():
    normal, a, b = _data()
    X, y = np.vstack([normal[:400], a[:10]]), np.r_[np.zeros(400), np.ones(10)]
    # a fixed schedule, no early stopping: quick, and the same number of steps with and without labels
    params = dict(
        epochs=100,
        batch_size=32,
        patience=None,
        hidden_units=(32, 16),
        latent_dim=2,
        calibration_fraction=0.1,
        random_state=0,
    )
    unlabelled = VAEAnomalyDetector(**params).fit(normal[:400])
    labelled = VAEAnomalyDetector(use_labels=True, **params).fit(X, y)
    plan = labelled.training_plan_
    assert plan["n_known_anomalies"] == 10 and plan["n_train"] + plan["n_validation"] + plan["n_calibration"] == 400
    assert len(labelled.calibration_scores_) == 40  # 10% of the normal rows

    def separation(det, anomalies):
        """The share of (normal, anomaly) pairs the detector orders right: the ROC-AUC."""
        s_normal, s_anomaly = det.anomaly_score(normal[400:]), det.anomaly_score(anomalies)
        return (s_anomaly[:, None] > s_normal[None, :]).mean()

    # kind A, told about 10 of them, is found better; kind B, never labelled, no worse than without labels
    # (2026-12-07, torch: A 0.73 -> 1.00, B 0.64 -> 0.68)
    assert separation(labelled, a[10:]) > separation(unlabelled, a[10:]) + 0.1
    assert separation(labelled, b) >= separation(unlabelled, b) - 0.05


@pytest.mark.parametrize(
    "y, message",
    [
        (None, "needs y"),
        (np.zeros(5), "5 labels for 6"),
        (np.array([0, 0, 0, 0, 2, 1]), "example 4 has 2"),
        (np.array(["0", "0", "0", "0", "a", "1"], dtype=object), "example 4 has 'a'"),
        (np.zeros(6), "marks no example"),
        (np.array([0, 1, 1, 1, 1, 1]), "at least 2 normal"),
    ],
)
def test_bad_labels_are_refused_by_what_is_wrong(y, message):
    X = np.random.default_rng(0).normal(size=(6, 2))
    with pytest.raises(ValueError, match=message):
        small_detector(use_labels=True).fit(X, y)
