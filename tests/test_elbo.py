"""The shared ELBO and likelihoods, checked against NumPy/closed-form references."""

import numpy as np
import pytest
from keras import ops

from anomaly_vae.network import likelihoods
from anomaly_vae.network.elbo import elbo_loss, kl_to_standard_normal
from anomaly_vae.network.likelihoods import bernoulli_nll, gaussian_nll, mse_nll

pytestmark = pytest.mark.backend  # the model's maths: `make test` runs it on every backend

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
    assert np_(kl_to_standard_normal(t(np.zeros((2, 4), "float32")), t(np.zeros((2, 4), "float32")))).tolist() == [
        0.0,
        0.0,
    ]


@pytest.mark.parametrize("beta", [0.0, 1.0, 2.5])
def test_elbo_loss_is_recon_plus_beta_kl(beta):
    outputs = {
        "x_mean": MEAN,
        "x_log_var": LOG_VAR,
        "z_mean": t(rng.normal(size=(5, 2)).astype("float32")),
        "z_log_var": t(rng.normal(size=(5, 2)).astype("float32")),
    }
    loss, recon, kl = (float(np_(t)) for t in elbo_loss(X, outputs, likelihoods.get("gaussian"), beta))
    assert recon == pytest.approx(np_(likelihoods.get("gaussian").nll(X, outputs)).sum(1).mean(), rel=1e-5)
    assert kl == pytest.approx(np_(kl_to_standard_normal(outputs["z_mean"], outputs["z_log_var"])).mean(), rel=1e-5)
    assert loss == pytest.approx(recon + beta * kl, rel=1e-5)


def test_unknown_likelihood_is_refused():
    with pytest.raises(ValueError, match="likelihood must be one of"):
        likelihoods.get("poisson")


def test_categorical_groups_get_log_softmax_on_the_active_column():
    logits = rng.normal(size=(4, 5)).astype("float32")
    x = np.array([[0.3, 1, 0, 0, 0], [-1.0, 0, 0, 1, 0], [2.0, 0, 0, 0, 1], [0.0, 0, 0, 0, 0]], dtype="float32")
    table = likelihoods.get("gaussian", [[1, 2, 3], [4]], n_features=5)
    decoded = {"x_mean": t(logits), "x_log_var": t(np.zeros(5, dtype="float32"))}
    got = np_(table.nll(t(x), decoded))
    lg = logits[:, 1:4] - logits[:, 1:4].max(axis=1, keepdims=True)
    log_p = lg - np.log(np.exp(lg).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(got[0, 1:4], [-log_p[0, 0], 0, 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[1, 1:4], [0, 0, -log_p[1, 2]], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[:, 4], 0.0, atol=1e-6)  # a one-column group is certain
    # an unseen category (all zeros) costs as much as the least likely known one, spread over the group
    np.testing.assert_allclose(got[3, 1:4], np.full(3, -log_p[3].min() / 3), rtol=1e-5)
    np.testing.assert_allclose(
        got[:, 0], np_(gaussian_nll(t(x), t(logits), t(np.zeros(5, dtype="float32"))))[:, 0], rtol=1e-6
    )


def test_the_elbo_sums_every_event_axis_of_an_example():
    """An image (n, H, W, C): the reconstruction term is the sum over all its pixels, as for a flat row."""
    images = rng.uniform(size=(3, 4, 5, 2)).astype("float32")
    logits = rng.normal(size=(1, 3, 4, 5, 2)).astype("float32")
    z = {"z_mean": t(rng.normal(size=(1, 3, 2)).astype("float32")), "z_log_var": t(np.zeros((1, 3, 2), "float32"))}
    bernoulli = likelihoods.get("bernoulli")
    _, recon, _ = elbo_loss(t(images), {"x_mean": t(logits), **z}, bernoulli, 1.0)
    _, flat, _ = elbo_loss(t(images.reshape(3, -1)), {"x_mean": t(logits.reshape(1, 3, -1)), **z}, bernoulli, 1.0)
    assert float(np_(recon)) == pytest.approx(float(np_(flat)), rel=1e-6)
    assert float(np_(recon)) == pytest.approx(
        np_(bernoulli_nll(t(images), t(logits[0]))).reshape(3, -1).sum(1).mean(), rel=1e-5
    )


@pytest.mark.parametrize("name", list(likelihoods.LIKELIHOODS))
def test_every_likelihood_draws_around_its_mean(name):
    """``mean`` is the distribution's mean (the average of many ``sample`` draws), in the data's units."""
    import keras

    shape = (20_000, 3)
    params = {
        "x_mean": t(np.broadcast_to(np.array([0.5, -1.0, 2.0], "float32"), shape).copy()),
        "x_log_var": t(np.full(shape, -1.0, "float32")),
    }
    dist = likelihoods.get(name)
    draws = np_(dist.sample(params, keras.random.SeedGenerator(0)))
    assert draws.shape == shape
    np.testing.assert_allclose(draws.mean(0), np_(dist.mean(params)).mean(0), atol=0.03)
    if name == "bernoulli":
        assert set(np.unique(draws)) <= {0.0, 1.0}


def test_categorical_groups_sample_one_category_and_mean_their_probabilities():
    import keras

    logits = np.tile(np.array([[0.0, 2.0, 0.0, -1.0, 0.5]], "float32"), (10_000, 1))
    table = likelihoods.get("mse", [[1, 2, 3]], n_features=5)
    params = {"x_mean": t(logits)}
    draws = np_(table.sample(params, keras.random.SeedGenerator(1)))
    np.testing.assert_array_equal(draws[:, 1:4].sum(1), 1.0)  # one category per row, one-hot
    softmax = np.exp(logits[0, 1:4]) / np.exp(logits[0, 1:4]).sum()
    np.testing.assert_allclose(draws[:, 1:4].mean(0), softmax, atol=0.02)
    np.testing.assert_allclose(np_(table.mean(params))[0, 1:4], softmax, rtol=1e-5)
    np.testing.assert_allclose(np_(table.mean(params))[0, [0, 4]], logits[0, [0, 4]])
