"""Missing values the VAE way: the detector's ``missing="marginalise"`` and ``VAEImputer`` (MIWAE)."""

import numpy as np
import pandas as pd
import pytest

from anomaly_vae import VAEImputer
from anomaly_vae.persistence.model_files import load_detector, save_detector
from tests.helpers import small_detector

pytestmark = pytest.mark.backend  # the model's maths: `make test` runs it on every backend


@pytest.fixture(scope="module")
def complete():
    """400 rows of 6 columns driven by 2 latent factors: each column is predictable from the others."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(400, 2))
    x = z @ rng.normal(size=(2, 6)) + 0.1 * rng.normal(size=(400, 6))
    return x * [1.0, 10.0, 100.0, 0.1, 1.0, 5.0] + [0.0, 5.0, 50.0, 1.0, -3.0, 0.0]


@pytest.fixture(scope="module")
def hidden(complete):
    """A mask hiding 30% of the entries at random, at least one entry left per row."""
    mask = np.random.default_rng(1).random(complete.shape) < 0.3
    mask[mask.all(axis=1), 0] = False
    return mask


@pytest.fixture(scope="module")
def imputer(complete, hidden):
    return VAEImputer(epochs=100, batch_size=64, learning_rate=1e-2, n_draws=200, random_state=0).fit(
        np.where(hidden, np.nan, complete)
    )


def test_imputer_keeps_observed_entries_exactly_and_beats_the_column_means(imputer, complete, hidden):
    incomplete = np.where(hidden, np.nan, complete)
    filled = imputer.transform(incomplete)
    assert filled.dtype == np.float64 and np.isfinite(filled).all()
    np.testing.assert_array_equal(filled[~hidden], complete[~hidden])
    scale = complete.std(axis=0)
    error = (filled - complete)[hidden] / np.broadcast_to(scale, complete.shape)[hidden]
    means = (np.nanmean(incomplete, axis=0) - complete)[hidden] / np.broadcast_to(scale, complete.shape)[hidden]
    rmse, mean_rmse = np.sqrt(np.mean(error**2)), np.sqrt(np.mean(means**2))
    assert rmse < 0.6 * mean_rmse, (rmse, mean_rmse)  # the columns are predictable from each other
    np.testing.assert_array_equal(imputer.transform(incomplete), filled)  # fixed importance draws
    np.testing.assert_array_equal(imputer.transform(complete), complete)


def test_imputer_speaks_pandas(imputer, complete, hidden):
    frame = pd.DataFrame(np.where(hidden, np.nan, complete), columns=list("abcdef"), index=np.arange(400) + 7)
    fitted = VAEImputer(epochs=2, n_draws=20, random_state=0).fit(frame)
    out = fitted.set_output(transform="pandas").transform(frame)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == list("abcdef") and out.index.equals(frame.index)
    assert list(fitted.get_feature_names_out()) == list("abcdef")
    draws = fitted.sample_imputations(frame.iloc[:20], n_imputations=3, random_state=0)
    assert len(draws) == 3 and all(isinstance(d, pd.DataFrame) and d.index.equals(frame.index[:20]) for d in draws)


def test_multiple_imputations_vary_where_missing_only(imputer, complete, hidden):
    incomplete = np.where(hidden, np.nan, complete)[:50]
    draws = imputer.sample_imputations(incomplete, n_imputations=4, random_state=0)
    assert len(draws) == 4
    stacked = np.stack(draws)
    assert np.isfinite(stacked).all()
    observed = ~hidden[:50]
    for d in draws:
        np.testing.assert_array_equal(d[observed], complete[:50][observed])
    assert (stacked.std(axis=0)[~observed] > 0).all()  # each draw is a different plausible value
    np.testing.assert_array_equal(np.stack(imputer.sample_imputations(incomplete, 4, random_state=0)), stacked)
    # the draws centre near the conditional mean, not somewhere else
    spread = np.stack(imputer.sample_imputations(incomplete, 40, random_state=1)).mean(axis=0)
    mean = imputer.transform(incomplete)
    scale = complete.std(axis=0)
    assert np.median(np.abs(spread - mean)[~observed] / np.broadcast_to(scale, mean.shape)[~observed]) < 0.2


def test_bad_input_gets_a_clear_error(imputer, complete):
    empty_column = complete.copy()
    empty_column[:, 3] = np.nan
    with pytest.raises(ValueError, match="column 'x3' has no observed value"):
        VAEImputer(epochs=1).fit(empty_column)
    empty_row = complete.copy()
    empty_row[5] = np.nan
    with pytest.raises(ValueError, match="row 5 has every entry missing"):
        imputer.transform(empty_row)
    infinite = complete.copy()
    infinite[2, 1] = np.inf
    with pytest.raises(ValueError, match="inf at row 2, column 'x1'"):
        imputer.transform(infinite)
    with pytest.raises(ValueError, match="n_imputations must be a positive integer"):
        imputer.sample_imputations(complete, n_imputations=0)


def test_damaged_weights_never_pass_as_imputations(complete, hidden):
    incomplete = np.where(hidden, np.nan, complete)
    damaged = VAEImputer(epochs=1, hidden_units=(8,), n_draws=10, random_state=0).fit(incomplete)
    kernel = damaged.detector_.vae_.decoder.head_layers[0].kernel
    kernel.assign(np.full(kernel.shape, np.nan, dtype="float32"))
    with pytest.raises(ValueError, match="imputed a non-finite value in row 0"):
        damaged.transform(incomplete)
    with pytest.raises(ValueError, match="imputed a non-finite value"):
        damaged.sample_imputations(incomplete, 2)
    np.testing.assert_array_equal(damaged.transform(complete), complete)  # nothing to impute: nothing to check


def test_detector_marginalises_missing_entries_when_asked(complete, hidden, tmp_path):
    incomplete = np.where(hidden, np.nan, complete)
    with pytest.raises(ValueError, match="contains NaN at row 0"):
        small_detector(epochs=1).fit(incomplete)
    det = small_detector(epochs=20, missing="marginalise").fit(incomplete)
    scores = det.anomaly_score(incomplete)
    assert np.isfinite(scores).all()
    # rows with missing entries score on the scale of complete rows (their observed NLL is scaled to the full row)
    full = det.anomaly_score(complete)
    gappy = hidden.any(axis=1)
    spread = np.subtract(*np.percentile(full, [75, 25]))
    assert abs(np.median(scores[gappy]) - np.median(full)) < 0.25 * spread
    total, features = det.score_with_features(incomplete)
    observed = (~hidden).sum(axis=1)
    unscaled = total - features.to_numpy().sum(axis=1) * (1 - observed / 6)
    assert np.median(full[gappy] - unscaled[gappy]) > 0.25 * spread  # what the scaling corrects: fewer terms
    outlier = complete[:1].copy()
    outlier[0, 0] = np.nan
    outlier[0, 1] += 20 * complete[:, 1].std()
    assert det.anomaly_score(outlier)[0] > np.quantile(scores, 0.99)
    features = det.feature_scores(outlier)
    assert features.iloc[0, 0] == 0.0 and features.iloc[0].idxmax() == "x1"  # a missing entry costs nothing
    loaded = load_detector(save_detector(det, tmp_path / "model"))
    np.testing.assert_array_equal(loaded.anomaly_score(incomplete), scores)


def test_a_saved_imputer_imputes_as_it_did_and_a_tampered_one_is_refused(imputer, complete, hidden, tmp_path):
    import json

    from anomaly_vae import load_imputer, save_imputer

    incomplete = np.where(hidden, np.nan, complete)[:80]
    folder = save_imputer(imputer, tmp_path / "imputer")
    loaded = load_imputer(folder)
    np.testing.assert_allclose(loaded.transform(incomplete), imputer.transform(incomplete), rtol=1e-6)
    assert loaded.get_params() == imputer.get_params()
    doc = json.loads((folder / "imputer.json").read_text())
    for damage, message in [
        ({"draws_": doc["draws_"][:3]}, "field draws_: needs 200 finite rows"),
        ({"params": {**doc["params"], "n_draws": -1}}, "field params"),
        ({"params": {**doc["params"], "exec": "os.system"}}, "field params"),
        ({"format": 9}, "imputer format 9"),
    ]:
        (folder / "imputer.json").write_text(json.dumps({**doc, **damage}))
        with pytest.raises(ValueError, match=message):
            load_imputer(folder)
    with pytest.raises(ValueError, match="not a saved VAEImputer"):
        load_imputer(tmp_path)
