"""The detectors as generative models: encode, decode, reconstruct, sample, interpolate (tables here; images in
``test_image_detector.py``)."""

import numpy as np
import pandas as pd
import pytest

from tests.helpers import small_detector

pytestmark = pytest.mark.backend  # the model's maths: `make test` runs it on every backend


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(600, 2))
    x = np.column_stack([z, z @ [[1.0, 0.5], [-0.5, 1.0]] + 0.1 * rng.normal(size=(600, 2))])
    return pd.DataFrame(x * [1.0, 10.0, 100.0, 0.1] + [0.0, 5.0, 50.0, 1.0], columns=["a", "b", "c", "d"])


@pytest.fixture(scope="module")
def fitted(frame):
    return small_detector(epochs=60, hidden_units=(32,), latent_dim=2).fit(frame)


def test_samples_are_rows_in_the_inputs_units_and_reproducible(fitted, frame):
    samples = fitted.sample(3000, random_state=0)
    assert isinstance(samples, pd.DataFrame) and list(samples.columns) == list(frame.columns) and len(samples) == 3000
    assert np.isfinite(samples.to_numpy()).all()
    pd.testing.assert_frame_equal(samples, fitted.sample(3000, random_state=0))
    assert not samples.equals(fitted.sample(3000, random_state=1))
    scale = frame.std()
    assert ((samples.mean() - frame.mean()).abs() < 0.5 * scale).all()  # in the input's units, not standardised ones
    assert ((samples.std() > 0.3 * scale) & (samples.std() < 3 * scale)).all()


def test_the_latent_mixture_is_fitted_when_first_read_and_pickles_without_training_rows(frame):
    """A fit does not pay for the mixture that only sampling needs; reading it (sampling, saving, pickling) fits it
    from the examples and seed the fit kept, so it is the same whenever that happens."""
    import pickle

    from anomaly_vae.generation.latent_mixture import LatentMixture

    unfitted = small_detector(epochs=3, latent_dim=2)
    assert not hasattr(unfitted, "latent_mixture_")
    first, second = (small_detector(epochs=3, latent_dim=2).fit(frame) for _ in range(2))
    assert not any("mixture" in name for name in vars(first))  # nothing fitted yet
    back = pickle.loads(pickle.dumps(first))
    assert "_latent_fit" not in vars(back) and isinstance(back.latent_mixture_, LatentMixture)
    np.testing.assert_array_equal(back.latent_mixture_.means, second.latent_mixture_.means)
    pd.testing.assert_frame_equal(back.sample(50, random_state=0), second.sample(50, random_state=0))
    refit = first.fit(frame.iloc[:300])
    assert "_latent_mixture" not in vars(refit)  # a new fit drops the old mixture


def test_reconstructions_follow_the_input_and_keep_its_index(fitted, frame):
    rows = frame.iloc[10:60]
    back = fitted.reconstruct(rows)
    assert back.index.equals(rows.index) and list(back.columns) == list(frame.columns)
    error = ((back - rows) ** 2).mean() / frame.var()
    assert (error < 0.8).all() and error.mean() < 0.5, error  # correlated columns: the code explains much of each
    as_array = small_detector(epochs=2).fit(frame.to_numpy())
    assert isinstance(as_array.reconstruct(frame.to_numpy()[:5]), np.ndarray)
    assert as_array.sample(2, random_state=0).shape == (2, 4)


def test_encode_decode_and_interpolate(fitted, frame):
    codes = fitted.encode(frame.iloc[:5])
    assert codes.shape == (5, 2) and np.isfinite(codes).all()
    pd.testing.assert_frame_equal(
        fitted.decode(codes).set_axis(frame.index[:5]), fitted.reconstruct(frame.iloc[:5]), rtol=1e-5
    )
    path = fitted.interpolate(frame.iloc[0], frame.iloc[1], n_steps=5)
    assert len(path) == 5
    ends = fitted.reconstruct(frame.iloc[[0, 1]]).to_numpy()
    np.testing.assert_allclose(path.to_numpy()[[0, -1]], ends, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        fitted.interpolate(frame.iloc[0].to_numpy(), frame.iloc[[1]], 5).to_numpy(), path.to_numpy(), rtol=1e-6
    )


def test_categorical_groups_sample_one_category_each(frame):
    rng = np.random.default_rng(1)
    onehot = np.eye(3)[rng.integers(0, 3, size=len(frame))]
    X = np.column_stack([frame.to_numpy()[:, :2], onehot])
    det = small_detector(epochs=5, categorical_groups=[[2, 3, 4]]).fit(X)
    drawn = det.sample(200, random_state=0)
    np.testing.assert_array_equal(drawn[:, 2:].sum(axis=1), 1.0)
    assert set(np.unique(drawn[:, 2:])) <= {0.0, 1.0}
    means = det.reconstruct(X[:20])[:, 2:]  # a mean is the category probabilities
    np.testing.assert_allclose(means.sum(axis=1), 1.0, rtol=1e-5)


def test_samples_keep_counts_whole_and_inside_the_training_range(frame, tmp_path):
    import json
    import warnings

    from anomaly_vae import load_detector, save_detector

    rng = np.random.default_rng(2)
    counts = rng.poisson(3.0, size=len(frame)).astype(np.float32)
    halves = np.round(rng.uniform(1.0, 4.0, size=len(frame)) * 2) / 2
    X = pd.DataFrame({"a": frame["a"], "count": counts, "half": halves})
    det = small_detector(epochs=10).fit(X)
    assert det.column_support_.decimals == (None, 0, 1)
    for codes in ("aggregate", "prior"):
        drawn = det.sample(2000, random_state=0, codes=codes)
        assert (drawn["count"] == drawn["count"].round()).all() and drawn["count"].between(0, counts.max()).all()
        tenths = drawn["half"].to_numpy() * 10  # steps of 0.5 have one decimal: rounded to tenths, not halves
        np.testing.assert_allclose(tenths, tenths.round(), atol=1e-9)
        assert drawn["half"].between(1.0, 4.0).all()
        assert drawn["a"].nunique() > 1900 and drawn["a"].between(frame["a"].min(), frame["a"].max()).all()
    assert not det.sample(50, random_state=0).equals(det.sample(50, random_state=0, codes="prior"))
    with pytest.raises(ValueError, match="codes must be one of"):
        det.sample(5, codes="posterior")
    folder = save_detector(det, tmp_path / "det")
    pd.testing.assert_frame_equal(load_detector(folder).sample(100, random_state=3), det.sample(100, random_state=3))
    doc = json.loads((folder / "detector.json").read_text())
    for key in ("latent_mixture_", "column_support_"):
        del doc[key]
    (folder / "detector.json").write_text(json.dumps({**doc, "format": 7}))
    old = load_detector(folder)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        drawn = old.sample(100, random_state=3)
    assert any("latent mixture" in str(w.message) for w in caught)
    assert old.latent_mixture_ is None and old.column_support_ is None and drawn.shape == (100, 3)
    (folder / "detector.json").write_text(json.dumps({**doc, "format": 8}))
    with pytest.raises(ValueError, match="latent_mixture_ is missing"):
        load_detector(folder)


@pytest.mark.parametrize("bad", [0, -3, 2.5, "10", True])
def test_bad_sample_counts_are_refused_by_name(fitted, bad):
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        fitted.sample(bad)


def test_bad_interpolation_and_codes_are_refused(fitted, frame):
    with pytest.raises(ValueError, match="n_steps must be at least 2"):
        fitted.interpolate(frame.iloc[0], frame.iloc[1], n_steps=1)
    with pytest.raises(ValueError, match="one row"):
        fitted.interpolate(frame.iloc[:2], frame.iloc[1])
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        fitted.decode(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="NaN"):
        fitted.decode([[0.0, np.nan]])


def test_non_finite_decodes_are_refused_not_returned(fitted, frame):
    import pickle

    broken = pickle.loads(pickle.dumps(fitted))
    weight = broken.vae_.decoder.weights[0]
    weight.assign(np.full(weight.shape, np.nan, dtype="float32"))
    with pytest.raises(ValueError, match="non-finite"):
        broken.sample(3, random_state=0)
    with pytest.raises(ValueError, match="non-finite"):
        broken.decode(np.zeros((2, 2)))
