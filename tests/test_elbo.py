"""The shared ELBO and likelihoods, checked against NumPy/closed-form references."""

import numpy as np
import pytest
from keras import ops

from anomaly_vae.elbo import elbo_loss, kl_to_standard_normal
from anomaly_vae.likelihoods import bernoulli_nll, feature_nll, gaussian_nll, mse_nll

rng = np.random.default_rng(1)
t = ops.convert_to_tensor
X = t(rng.normal(size=(5, 3)).astype("float32"))
MEAN = t(rng.normal(size=(5, 3)).astype("float32"))
LOG_VAR = t(rng.normal(size=(3,)).astype("float32"))


def np_(t):
    return np.asarray(ops.convert_to_numpy(t), dtype=np.float64)


def test_gaussian_nll_matches_density():
    x, mean, var = np_(X), np_(MEAN), np.exp(np_(LOG_VAR))
    expected = -np.log(np.exp(-((x - mean) ** 2) / (2 * var)) / np.sqrt(2 * np.pi * var))
    np.testing.assert_allclose(np_(gaussian_nll(X, MEAN, LOG_VAR)), expected, rtol=1e-5)


def test_mse_is_unit_variance_gaussian():
    np.testing.assert_allclose(np_(mse_nll(X, MEAN)), np_(gaussian_nll(X, MEAN, t(np.zeros(3, "float32")))), rtol=1e-6)


def test_bernoulli_nll_matches_log_loss():
    x01 = (np_(X) > 0).astype("float32")
    p = 1 / (1 + np.exp(-np_(MEAN)))
    expected = -(x01 * np.log(p) + (1 - x01) * np.log(1 - p))
    np.testing.assert_allclose(np_(bernoulli_nll(t(x01), MEAN)), expected, rtol=1e-5)


def test_kl_closed_form_matches_monte_carlo():
    mu, log_var = np.array([[0.5, -1.0]], "float32"), np.array([[-0.3, 0.4]], "float32")
    z = mu + np.exp(0.5 * log_var) * np.random.default_rng(0).normal(size=(200_000, 2))
    log_q = -0.5 * (((z - mu) ** 2) / np.exp(log_var) + log_var + np.log(2 * np.pi)).sum(1)
    log_p = -0.5 * (z**2 + np.log(2 * np.pi)).sum(1)
    assert np_(kl_to_standard_normal(t(mu), t(log_var)))[0] == pytest.approx((log_q - log_p).mean(), abs=0.01)


def test_kl_is_zero_at_the_prior():
    assert np_(kl_to_standard_normal(t(np.zeros((2, 4), "float32")), t(np.zeros((2, 4), "float32")))).tolist() == [0.0, 0.0]


@pytest.mark.parametrize("beta", [0.0, 1.0, 2.5])
def test_elbo_loss_is_recon_plus_beta_kl(beta):
    outputs = {
        "x_mean": MEAN,
        "x_log_var": LOG_VAR,
        "z_mean": t(rng.normal(size=(5, 2)).astype("float32")),
        "z_log_var": t(rng.normal(size=(5, 2)).astype("float32")),
    }
    loss, recon, kl = (float(np_(t)) for t in elbo_loss(X, outputs, "gaussian", beta))
    assert recon == pytest.approx(np_(feature_nll(X, outputs, "gaussian")).sum(1).mean(), rel=1e-5)
    assert kl == pytest.approx(np_(kl_to_standard_normal(outputs["z_mean"], outputs["z_log_var"])).mean(), rel=1e-5)
    assert loss == pytest.approx(recon + beta * kl, rel=1e-5)


def test_unknown_likelihood_is_refused():
    with pytest.raises(ValueError, match="likelihood must be one of"):
        feature_nll(X, {"x_mean": MEAN}, "poisson")


def test_categorical_groups_get_log_softmax_on_the_active_column():
    from anomaly_vae.likelihoods import CategoricalGroups

    logits = rng.normal(size=(4, 5)).astype("float32")
    x = np.array([[0.3, 1, 0, 0, 0], [-1.0, 0, 0, 1, 0], [2.0, 0, 0, 0, 1], [0.0, 0, 0, 0, 0]], dtype="float32")
    groups = CategoricalGroups([[1, 2, 3], [4]], n_features=5)
    decoded = {"x_mean": t(logits), "x_log_var": t(np.zeros(5, dtype="float32"))}
    got = np_(feature_nll(t(x), decoded, "gaussian", groups))
    lg = logits[:, 1:4] - logits[:, 1:4].max(axis=1, keepdims=True)
    log_p = lg - np.log(np.exp(lg).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(got[0, 1:4], [-log_p[0, 0], 0, 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[1, 1:4], [0, 0, -log_p[1, 2]], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[:, 4], 0.0, atol=1e-6)  # a one-column group is certain
    # an unseen category (all zeros) costs as much as the least likely known one, spread over the group
    np.testing.assert_allclose(got[3, 1:4], np.full(3, -log_p[3].min() / 3), rtol=1e-5)
    np.testing.assert_allclose(got[:, 0], np_(gaussian_nll(t(x), t(logits), t(np.zeros(5, dtype="float32"))))[:, 0], rtol=1e-6)
