"""``VAESeriesDetector``: one score per time point, an ordered split, and clear errors for bad series."""

import numpy as np
import pandas as pd
import pytest

from anomaly_vae import VAESeriesDetector

pytestmark = pytest.mark.backend  # the model's maths: `make test` runs it on every backend


def _sine(n=600, seed=0, channels=1):
    t = np.arange(n)
    rng = np.random.default_rng(seed)
    columns = [np.sin(2 * np.pi * t / 20 + c) + 0.05 * rng.normal(size=n) for c in range(channels)]
    return np.stack(columns, axis=1)


def _small(**params):
    defaults = dict(
        window=16, epochs=3, hidden_units=(16,), filters=(8,), dense_units=16, latent_dim=4, n_samples=4, random_state=0
    )
    return VAESeriesDetector(**{**defaults, **params})


@pytest.mark.parametrize("architecture", ["conv", "dense"])
def test_an_injected_spike_is_the_top_scored_point(architecture, tmp_path):
    from anomaly_vae import load_detector, save_detector

    series = _sine(800)
    test = series[500:].copy()
    test[137] += 6.0
    det = _small(architecture=architecture, epochs=10).fit(series[:500])
    scores = det.anomaly_score(test)
    assert scores.shape == (300,)
    assert int(np.argmax(scores)) == 137
    assert np.isfinite(scores).all()
    assert det.predict(test)[137] == -1
    assert det.score_samples(test).shape == det.decision_function(test).shape == det.p_values(test).shape == (300,)
    loaded = load_detector(save_detector(det, tmp_path / "model"))  # the saved folder scores alike
    np.testing.assert_allclose(loaded.anomaly_score(test), scores, rtol=1e-5)


def test_the_split_is_in_time_and_the_held_out_points_score_one_each():
    det = _small(validation_fraction=0.2, calibration_fraction=0.1, threshold="conformal", target_fpr=0.05).fit(
        _sine(600)
    )
    # the last 60 points calibrate, the 120 before them validate: one score per held-out point
    assert det.validation_scores_.shape == (120,) and det.calibration_scores_.shape == (60,)
    starts, parts, n = det._fit_layout
    assert n == 600
    for part, (lo, hi) in enumerate([(0, 420), (420, 540), (540, 600)]):  # no window crosses a boundary
        assert starts[parts == part].min() == lo and starts[parts == part].max() + 16 == hi


def test_multichannel_table_with_a_time_column():
    values = _sine(400, channels=2)
    frame = pd.DataFrame(
        {"time": pd.date_range("2026-01-01", periods=400, freq="min"), "a": values[:, 0], "b": values[:, 1]}
    )
    det = _small(time_column="time").fit(frame)
    assert det.n_features_in_ == 2 and list(det.feature_names_in_) == ["a", "b"]
    assert det.time_step_ == pd.Timedelta(minutes=1)
    assert det.anomaly_score(frame.iloc[100:300]).shape == (200,)
    with pytest.raises(ValueError, match=r"value columns are \['b', 'a'\]"):
        det.anomaly_score(frame[["time", "b", "a"]])
    hourly = frame.assign(time=pd.date_range("2026-01-01", periods=400, freq="h"))
    with pytest.raises(
        ValueError, match="steps by 0 days 01:00:00, but the detector was fitted on steps of 0 days 00:01"
    ):
        det.anomaly_score(hourly)
    windows = det.sample(3, random_state=0)
    assert windows.shape == (3, 16, 2) and np.isfinite(windows).all()
    assert det.reconstruct(frame.iloc[:40]).shape == (25, 16, 2)  # every window of 40 points, stride 1


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda f: f.iloc[[0, 2, 1, *range(3, len(f))]], r"not in time order: row 2 \(1\) comes before row 1 \(2\)"),
        (lambda f: f.assign(t=[0, 1, 1, *range(3, len(f))]), r"timestamp 1 appears twice, at rows 1 and 2"),
        (lambda f: f.assign(t=[*range(0, 50), *range(51, len(f) + 1)]), r"not regular: 49 to 51 \(rows 49-50\)"),
        (lambda f: f.assign(v=np.where(np.arange(len(f)) == 7, np.nan, f.v)), r"NaN at row 7 \(time 7\), column 'v'"),
        (lambda f: f.assign(v=f.v.astype(str)), r"value column 'v' is not numeric"),
        (lambda f: f.drop(columns="t"), r"no time column 't'"),
    ],
)
def test_bad_series_get_errors_naming_the_row_or_column(change, message):
    frame = pd.DataFrame({"t": np.arange(200), "v": _sine(200)[:, 0]})
    with pytest.raises(ValueError, match=message):
        _small(time_column="t").fit(change(frame))


def test_float_timestamps_step_alike_up_to_rounding():
    from anomaly_vae.inputs.series_input import check_series

    times = np.arange(50) * 0.1  # 0.30000000000000004 and the like
    assert check_series(pd.DataFrame({"t": times, "v": 1.0}), "t").step == pytest.approx(0.1)
    with pytest.raises(ValueError, match="not regular"):
        check_series(pd.DataFrame({"t": np.r_[times[:20], times[21:]], "v": 1.0}), "t")


def test_window_and_stride_edge_cases():
    with pytest.raises(ValueError, match="fewer than one window of 16 is left to train on"):
        _small().fit(_sine(15))
    with pytest.raises(ValueError, match=r"stride \(20\) must not exceed window \(16\)"):
        _small(stride=20).fit(_sine(300))
    det = _small(stride=16).fit(_sine(300))
    with pytest.raises(ValueError, match="fewer than one window of 16"):
        det.anomaly_score(_sine(10))
    assert det.anomaly_score(_sine(50)).shape == (50,)  # the last window flush with the end covers the tail
    with pytest.raises(ValueError, match=r"2 value column\(s\), but the detector was fitted on 1"):
        det.anomaly_score(_sine(50, channels=2))


def test_point_rules_give_one_finite_score_per_point_and_shares_sum_to_window_scores():
    from anomaly_vae.detectors.windows import sliding_windows

    det = _small().fit(_sine(300))
    series = _sine(120, seed=1)
    by_rule = {}
    for rule in ("mean", "max", "position"):  # the rule only changes how scores are read, not the fit
        by_rule[rule] = det.set_params(point_rule=rule).anomaly_score(series)
        assert by_rule[rule].shape == (120,) and np.isfinite(by_rule[rule]).all()
    assert (by_rule["max"] >= by_rule["mean"] - 1e-9).all()
    windows = det._transform(sliding_windows(series, 16)[0])
    np.testing.assert_allclose(det._position_scores(windows).sum(axis=1), det._predict(windows), rtol=1e-6)


def test_save_and_load_keep_the_scores_and_the_time_step(tmp_path):
    from anomaly_vae import load_detector, save_detector

    frame = pd.DataFrame({"t": pd.date_range("2026-01-01", periods=300, freq="5s"), "v": _sine(300)[:, 0]})
    det = _small(time_column="t").fit(frame)
    loaded = load_detector(save_detector(det, tmp_path / "model"))
    assert type(loaded) is VAESeriesDetector and loaded.time_step_ == pd.Timedelta(seconds=5)
    np.testing.assert_allclose(loaded.anomaly_score(frame), det.anomaly_score(frame), rtol=1e-5)
    assert loaded.threshold_ == det.threshold_
    from pipelines.modalities.images.bundle import ImageBundle
    from pipelines.modalities.series.bundle import SeriesBundle

    folder = SeriesBundle(det).save(tmp_path / "bundle")
    assert type(SeriesBundle.load(folder).detector) is VAESeriesDetector
    (folder / "series_bundle.json").rename(folder / "image_bundle.json")  # a series detector dressed as images
    with pytest.raises(ValueError, match="modality"):
        ImageBundle.load(folder)
    document = (folder / "image_bundle.json").read_text().replace('"series"', '"images"')
    (folder / "image_bundle.json").write_text(document)
    with pytest.raises(ValueError, match="holds a VAESeriesDetector, not an image detector"):
        ImageBundle.load(folder)
    meta = tmp_path / "model" / "detector.json"
    meta.write_text(meta.read_text().replace('"P0DT0H0M5S"', '"five seconds"'))
    with pytest.raises(ValueError, match="field time_step_: 'five seconds' is not an ISO 8601 duration"):
        load_detector(tmp_path / "model")


def test_window_auto_takes_the_series_period_and_is_kept_when_saved(tmp_path):
    from anomaly_vae import load_detector, save_detector

    det = _small(window="auto").fit(_sine(600))  # period 20
    assert det.window == "auto" and det.window_ == 20
    scores = det.anomaly_score(_sine(200, seed=1))
    assert scores.shape == (200,)
    save_detector(det, tmp_path / "det")
    loaded = load_detector(tmp_path / "det")
    assert loaded.window == "auto" and loaded.window_ == 20
    np.testing.assert_allclose(loaded.anomaly_score(_sine(200, seed=1)), scores, rtol=1e-5, atol=1e-5)


def test_a_saved_auto_window_without_its_fitted_size_is_refused(tmp_path):
    import json

    from anomaly_vae import load_detector, save_detector

    save_detector(_small(window="auto").fit(_sine(600)), tmp_path / "det")
    meta = tmp_path / "det" / "detector.json"
    state = json.loads(meta.read_text())
    del state["window_"]
    meta.write_text(json.dumps(state))
    with pytest.raises(ValueError, match="window_ is missing"):
        load_detector(tmp_path / "det")


def test_members_train_side_by_side_and_a_saved_ensemble_scores_alike(tmp_path):
    from keras import ops

    from anomaly_vae import load_detector, save_detector

    series = _sine(700)
    det = _small(n_members=2).fit(series[:500])
    assert det.vae_.n_members == 2 and det.training_plan_["n_members"] == 2
    kernels = ops.convert_to_numpy(det.vae_.encoder.hidden[0].kernel)
    assert not np.allclose(kernels[0], kernels[1])  # members start from different weights
    scores = det.anomaly_score(series[500:])
    assert scores.shape == (200,) and np.isfinite(scores).all()
    assert not np.allclose(scores, _small(n_members=1).fit(series[:500]).anomaly_score(series[500:]))  # not one's
    loaded = load_detector(save_detector(det, tmp_path / "model"))
    np.testing.assert_allclose(loaded.anomaly_score(series[500:]), scores, rtol=1e-5)
    with pytest.raises(ValueError, match="n_members=2 needs architecture='dense'"):
        _small(architecture="conv", n_members=2).fit(series[:500])
    # 'auto' (the default): three dense members, one convolutional network
    assert _small().fit(series[:500]).vae_.n_members == 3
    assert _small(architecture="conv").fit(series[:500]).vae_.n_members == 1
