"""Calibrated decisions: conformal p-values, Benjamini-Hochberg, the POT tail, thresholds set by rule, drift."""

import json
import warnings

import numpy as np
import pytest
from scipy import stats
from sklearn.utils import check_random_state

from anomaly_vae import load_detector, save_detector
from anomaly_vae.decisions.drift import KS_EXACT_MAX_N, drift_report, ks_two_sample
from anomaly_vae.decisions.p_values import (
    CalibrationWarning,
    bh_cutoff,
    bh_select,
    conformal_p_values,
    conformal_threshold,
)
from anomaly_vae.decisions.tail import fit_tail
from anomaly_vae.decisions.threshold import fit_threshold
from tests.helpers import small_detector


# ------------------------------------------------------------------ conformal p-values
def test_p_values_count_ties_as_at_least_as_extreme():
    cal = [1.0, 2.0, 2.0, 3.0]
    p = conformal_p_values(cal, [0.0, 2.0, 2.5, 3.0, 4.0])
    n = len(cal)
    expected = [(1 + sum(c >= s for c in cal)) / (n + 1) for s in (0.0, 2.0, 2.5, 3.0, 4.0)]
    np.testing.assert_array_equal(p, expected)
    assert p[0] == 1.0 and p[-1] == 1 / (n + 1)


@pytest.mark.parametrize("level", [0.01, 0.05, 0.1, 0.2, 0.5])
def test_the_conformal_threshold_flags_exactly_the_rows_with_small_p_values(level):
    rng = np.random.default_rng(1)
    cal = np.round(rng.normal(size=399), 1)  # many ties
    new = np.r_[np.round(rng.normal(size=500), 1), cal]
    threshold = conformal_threshold(cal, level)
    np.testing.assert_array_equal(new > threshold, conformal_p_values(cal, new) <= level)


def test_conformal_false_positive_rate_is_at_most_the_level_on_exchangeable_rows():
    rng = np.random.default_rng(2)
    n_cal, level, repeats = 49, 0.1, 4000
    rates = []
    for _ in range(repeats):
        cal, new = rng.standard_t(3, size=n_cal), rng.standard_t(3, size=200)
        rates.append(np.mean(conformal_p_values(cal, new) <= level))
    error = 3 * np.std(rates) / np.sqrt(repeats)
    assert np.mean(rates) <= level + error  # the guarantee: at most the level...
    assert np.mean(rates) >= level - 1 / (n_cal + 1) - error  # ...and at most 1/(n+1) below it


def test_too_few_calibration_scores_for_a_conformal_level_flag_nothing_and_say_so():
    with pytest.warns(CalibrationWarning, match="at least 99 normal rows"):
        assert conformal_threshold(np.arange(20.0), 0.01) == np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isfinite(conformal_threshold(np.arange(99.0), 0.01))


@pytest.mark.parametrize("bad", [[], [1.0, np.nan], [np.inf]])
def test_calibration_refuses_empty_or_non_finite_scores(bad):
    with pytest.raises(ValueError, match="empty|NaN"):
        fit_threshold(bad, "quantile", 0.1)


# ------------------------------------------------------------------ Benjamini-Hochberg
def test_bh_matches_the_step_up_rule_and_its_cutoff():
    rng = np.random.default_rng(3)
    p = np.r_[rng.uniform(size=300), rng.uniform(0, 0.002, size=30)]
    level = 0.05
    order = np.sort(p)
    passing = np.nonzero(order <= level * np.arange(1, len(p) + 1) / len(p))[0]
    expected = p <= order[passing.max()] if len(passing) else np.zeros(len(p), bool)
    np.testing.assert_array_equal(bh_select(p, level), expected)
    np.testing.assert_array_equal(p <= bh_cutoff(p, level), expected)
    assert bh_cutoff(np.ones(5), level) == 0.0


def test_bh_on_conformal_p_values_controls_the_false_discovery_rate():
    rng = np.random.default_rng(4)
    level, fdps = 0.1, []
    for _ in range(500):
        cal = rng.normal(size=300)
        normal, anomalies = rng.normal(size=270), rng.normal(2.5, 1.0, size=30)
        flagged = bh_select(conformal_p_values(cal, np.r_[normal, anomalies]), level)
        fdps.append(flagged[:270].sum() / max(flagged.sum(), 1))
    assert np.mean(fdps) <= level + 3 * np.std(fdps) / np.sqrt(len(fdps))


def test_bh_refuses_a_level_outside_zero_one():
    with pytest.raises(ValueError, match="between 0 and 1"):
        bh_select([0.1], 1.5)


# ------------------------------------------------------------------ POT
def test_pot_threshold_holds_a_rate_far_below_one_over_n_on_fresh_rows():
    rng = np.random.default_rng(5)
    known = stats.gamma(4.0)  # a right-skewed score distribution
    cal = known.rvs(size=5000, random_state=rng)
    fitted = fit_threshold(cal, "pot", 1e-3)
    fresh = known.rvs(size=200_000, random_state=rng)
    assert 0.3e-3 <= np.mean(fresh > fitted.value) <= 3e-3
    tail = fitted.tail
    assert tail.n_calibration == 5000 and tail.n_excesses == 250 and tail.scale > 0
    assert tail.survival(fitted.value) == pytest.approx(1e-3)


def test_pot_falls_back_to_the_quantile_with_a_warning_on_few_scores():
    cal = np.random.default_rng(6).normal(size=300)
    with pytest.warns(CalibrationWarning, match="too few for an extreme-value"):
        fitted = fit_threshold(cal, "pot", 0.01)
    assert fitted.tail is None and fitted.value == np.quantile(cal, 0.99)
    with pytest.warns(CalibrationWarning, match="tie"):
        assert fit_tail(np.r_[np.zeros(900), np.full(100, 5.0)]) is None


# ------------------------------------------------------------------ drift
def test_drift_report_tells_shifted_scores_from_fresh_ones():
    rng = np.random.default_rng(7)
    cal = rng.normal(size=2000)
    threshold = conformal_threshold(cal, 0.05)
    same = rng.normal(size=3000)
    report = drift_report(same, cal, int((same > threshold).sum()), "conformal", 0.05)
    assert not report.drifted and "consistent" in report.message()
    shifted = rng.normal(0.5, 1.0, size=3000)
    report = drift_report(shifted, cal, int((shifted > threshold).sum()), "conformal", 0.05)
    assert report.drifted and "--recalibrate" in report.message()
    assert report.metrics()["expected_flagged_share"] == pytest.approx(0.05, abs=1e-3) and report.flagged_share > 0.1
    assert "expected_flagged_share" not in drift_report(same, cal, 10, None, None).metrics()


@pytest.mark.parametrize("ties", [False, True])
def test_the_low_memory_ks_test_equals_scipys_on_large_samples(ties):
    """Scoring 10 M rows compares them with the calibration scores without SciPy's pooled arrays; the figures
    must be SciPy's, ties, either sample the larger, and samples apart or overlapping alike."""
    rng = np.random.default_rng(3)
    for n, m, shift in [(KS_EXACT_MAX_N + 1, 1, 0.0), (30_000, 500, 0.0), (25_000, 300, 0.2), (20_000, 50, 9.0)]:
        a, b = rng.normal(size=n), rng.normal(shift, 1.0, size=m)
        if ties:
            a, b = np.round(a, 1), np.round(b, 1)
        for x, y in [(a, b), (b, a)]:
            expected = stats.ks_2samp(x, y)
            statistic, p_value = ks_two_sample(x, y)
            assert statistic == pytest.approx(expected.statistic, abs=1e-12)
            assert p_value == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)


def test_the_flagged_count_test_holds_its_level_on_exchangeable_rows():
    rng = np.random.default_rng(11)
    p_values = []
    for _ in range(400):  # threshold noise from 200 calibration scores dominates 20,000 scored rows
        cal, new = rng.normal(size=200), rng.normal(size=20_000)
        flagged = int((new > conformal_threshold(cal, 0.05)).sum())
        p_values.append(drift_report(new, cal, flagged, "conformal", 0.05).flagged_p_value)
    assert np.mean(np.array(p_values) < 0.05) <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / 400)


# ------------------------------------------------------------------ detectors
@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(600, 2))
    return np.column_stack([z, z @ [[1.0, 0.5], [-0.5, 1.0]] + 0.1 * rng.normal(size=(600, 2))])


@pytest.fixture(scope="module")
def fitted(data):
    return small_detector(threshold="conformal", target_fpr=0.05, calibration_fraction=0.25).fit(data)


def test_calibration_rows_neither_train_nor_validate(fitted, data):
    n = len(data)
    rng = check_random_state(0)  # the detector's random_state: its seed, then its order of the rows
    rng.randint(np.iinfo(np.int32).max)
    order = rng.permutation(n)
    n_val, n_cal = int(0.1 * n), int(0.25 * n)
    np.testing.assert_array_equal(fitted.calibration_scores_, fitted.anomaly_score(data[order[n_val : n_val + n_cal]]))
    np.testing.assert_array_equal(fitted.validation_scores_, fitted.anomaly_score(data[order[:n_val]]))


def test_auto_calibration_holds_rows_out_for_the_conformal_and_pot_rules_only(data):
    assert small_detector(threshold="conformal")._held_out_counts(600) == (60, 60)
    assert small_detector(threshold="pot")._held_out_counts(600) == (60, 60)
    assert small_detector()._held_out_counts(600) == (60, 0)
    quantile = small_detector().fit(data[:300])
    assert quantile.calibration_scores_ is quantile.validation_scores_
    assert small_detector(calibration_fraction=0.9)._held_out_counts(20) == (2, 0)  # training rows come first


def test_conformal_detector_flags_exactly_p_values_at_most_the_target(fitted, data):
    rng = np.random.default_rng(8)
    X = np.r_[data[:100], rng.normal(0, 3, size=(100, 4))]
    np.testing.assert_array_equal(fitted.predict(X) == -1, fitted.p_values(X) <= 0.05)
    assert (fitted.threshold_rule_, fitted.target_fpr_) == ("conformal", 0.05)


def test_p_values_do_not_depend_on_how_rows_are_batched(fitted, data):
    X = np.r_[data, data[::-1] + 0.01]
    whole = fitted.p_values(X)
    in_parts = np.concatenate([fitted.p_values(X[:7]), fitted.p_values(X[7:700]), fitted.p_values(X[700:])])
    np.testing.assert_array_equal(whole, in_parts)
    assert ((whole > 0) & (whole <= 1)).all()


def test_predict_fdr_is_benjamini_hochberg_on_the_p_values(fitted, data):
    rng = np.random.default_rng(9)
    X = np.r_[data[:200], rng.normal(0, 4, size=(40, 4))]
    np.testing.assert_array_equal(fitted.predict_fdr(X, fdr=0.1) == -1, bh_select(fitted.p_values(X), 0.1))
    assert (fitted.predict_fdr(X, fdr=0.1)[200:] == -1).mean() > 0.5


def test_set_threshold_refits_any_rule_on_new_normal_rows_and_saves_it(fitted, data, tmp_path):
    import pickle

    det = pickle.loads(pickle.dumps(fitted))
    rng = np.random.default_rng(10)
    z = rng.normal(size=(1200, 2))
    fresh = np.column_stack([z, z @ [[1.0, 0.5], [-0.5, 1.0]] + 0.1 * rng.normal(size=(1200, 2))])
    det.set_threshold(fresh, rule="pot", target_fpr=1e-3)
    assert det.threshold_rule_ == "pot" and det.tail_ is not None and det.tail_.n_calibration == 1200
    np.testing.assert_array_equal(det.calibration_scores_, det.anomaly_score(fresh))
    assert det.threshold_ > np.quantile(det.calibration_scores_, 0.99)
    loaded = load_detector(save_detector(det, tmp_path / "pot"))
    assert (loaded.threshold_, loaded.threshold_rule_, loaded.target_fpr_, loaded.tail_) == (
        det.threshold_,
        "pot",
        1e-3,
        det.tail_,
    )
    np.testing.assert_array_equal(loaded.p_values(data[:50]), det.p_values(data[:50]))


def test_a_conformal_detector_with_too_few_calibration_rows_flags_nothing_and_saves(data, tmp_path):
    with pytest.warns(CalibrationWarning, match="too few"):
        det = small_detector(threshold="conformal", target_fpr=0.01).fit(data[:300])  # 30 calibration rows
    assert det.threshold_ == np.inf and (det.predict(data) == 1).all()
    loaded = load_detector(save_detector(det, tmp_path / "inf"))
    assert loaded.threshold_ == np.inf
    assert json.loads((tmp_path / "inf" / "detector.json").read_text())["threshold_"] is None


def test_a_format_6_detector_loads_calibrated_on_its_validation_scores(fitted, tmp_path):
    folder = save_detector(fitted, tmp_path / "old")
    doc = json.loads((folder / "detector.json").read_text())
    for key in ("calibration_scores_", "threshold_rule_", "target_fpr_", "tail_"):
        del doc[key]
    for key in ("calibration_fraction", "threshold", "target_fpr"):
        del doc["params"][key]
    doc["format"] = 6
    (folder / "detector.json").write_text(json.dumps(doc))
    loaded = load_detector(folder)
    np.testing.assert_array_equal(loaded.calibration_scores_, fitted.validation_scores_)
    assert (loaded.threshold_rule_, loaded.threshold_, loaded.tail_) == ("quantile", fitted.threshold_, None)
    doc["format"] = 7
    (folder / "detector.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="calibration_scores_ is missing"):
        load_detector(folder)
