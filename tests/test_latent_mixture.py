"""Where samples come from and where they land: the latent mixture and the column support (no network needed)."""

import numpy as np
import pytest

from anomaly_vae.generation.column_support import ColumnSupport, column_decimals
from anomaly_vae.generation.latent_mixture import LatentMixture


@pytest.fixture(scope="module")
def two_clusters():
    rng = np.random.default_rng(0)
    return np.r_[rng.normal([-3.0, 0.0], 0.3, size=(300, 2)), rng.normal([3.0, 1.0], 0.3, size=(100, 2))]


def test_the_mixture_samples_where_the_codes_are_not_between_them(two_clusters):
    mixture = LatentMixture.fit(two_clusters, random_state=0)
    drawn = mixture.sample(4000, np.random.RandomState(0))
    assert drawn.shape == (4000, 2)
    left = drawn[:, 0] < 0
    assert abs(left.mean() - 0.75) < 0.03  # the clusters' shares
    assert (np.abs(np.abs(drawn[:, 0]) - 3.0) < 1.5).mean() > 0.99  # almost nothing in the gap a Gaussian would fill
    np.testing.assert_allclose(drawn[left].mean(axis=0), [-3.0, 0.0], atol=0.05)
    np.testing.assert_allclose(drawn, mixture.sample(4000, np.random.RandomState(0)))


def test_a_saved_mixture_round_trips_and_a_tampered_one_is_refused(two_clusters):
    mixture = LatentMixture.fit(two_clusters, random_state=0)
    back = LatentMixture.from_dict(mixture.to_dict(), 2, "'m.json': field latent_mixture_")
    np.testing.assert_array_equal(back.covariances, mixture.covariances)
    good = mixture.to_dict()
    not_definite = {**good, "covariances": [[[1.0, 2.0], [2.0, 1.0]]] * len(good["weights"])}
    bad = [
        ({**good, "weights": [2.0] + good["weights"][1:]}, "sum to 1"),
        (not_definite, "positive definite"),
        ({**good, "means": [[0.0, 0.0, 0.0]] * len(good["weights"])}, "shapes"),
        ({**good, "covariances": [[[1.0, 0.5], [0.0, 1.0]]] * len(good["weights"])}, "symmetric"),
    ]
    for doc, message in bad:
        with pytest.raises(ValueError, match=f"'m.json': field latent_mixture_.*{message}"):
            LatentMixture.from_dict(doc, 2, "'m.json': field latent_mixture_")
    with pytest.raises(ValueError, match="shapes"):
        LatentMixture.from_dict(good, 3, "'m.json': field latent_mixture_")


def test_few_codes_get_fewer_components():
    codes = np.random.default_rng(1).normal(size=(25, 3))
    assert len(LatentMixture.fit(codes, random_state=0).weights) == 2


def test_column_decimals_read_float32_data_as_written():
    steps = np.arange(0, 5, 0.1).astype(np.float32).astype(np.float64)  # 0.1 is not exact in float32
    assert column_decimals(steps) == 1
    assert column_decimals(np.array([3.0, 17.0, 2000.0, np.nan])) == 0
    assert column_decimals(np.array([1.25, 2.5])) == 2
    assert column_decimals(np.random.default_rng(0).normal(size=50)) is None


def test_the_support_rounds_and_clips_each_column():
    train = np.column_stack([[0.0, 3.0, 7.0], [0.5, 1.5, 2.5], [0.123456789, -1.0, 2.0]])
    support = ColumnSupport.fit(train)
    assert support.decimals == (0, 1, None)
    out = support.apply(np.array([[2.6, 0.04, 0.3333333], [-1.0, 9.0, 5.0]]))
    np.testing.assert_allclose(out, [[3.0, 0.5, 0.3333333], [0.0, 2.5, 2.0]])
    back = ColumnSupport.from_dict(support.to_dict(), 3, "'d.json': field column_support_")
    np.testing.assert_array_equal(back.apply(out), out)
    with pytest.raises(ValueError, match="'d.json': field column_support_ describes 3"):
        ColumnSupport.from_dict(support.to_dict(), 4, "'d.json': field column_support_")
    empty = ColumnSupport.fit(np.array([[np.nan, 1.0], [np.nan, 2.0]]))  # a column with no value: unbounded
    assert empty.decimals == (None, 0)
    np.testing.assert_array_equal(empty.apply(np.array([[-1e9 + 0.5, 0.0]])), [[-1e9 + 0.5, 1.0]])
    assert ColumnSupport.from_dict(empty.to_dict(), 2, "'d.json': field column_support_").low[0] == -np.inf
    with pytest.raises(ValueError, match="low <= high"):
        ColumnSupport.from_dict({**support.to_dict(), "low": [9.0, 9.0, 9.0]}, 3, "'d.json': field column_support_")
