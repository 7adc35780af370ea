"""No output destroys an input; every size is bounded before allocation; every failure is one line (issue 29).

Each test is one case of the issue, and each failed on the code before it: the comment under the name says what the
user saw then.
"""

from __future__ import annotations

import json
import shutil
import signal
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.output_rules import OutputRefused
from pipelines.score import run_score
from pipelines.settings import ScoreSettings
from tests.security.helpers import (
    TEST,
    assert_user_error,
    cli,
    digit_folder,
    popen_cli,
    save_small_bundle,
    save_small_image_bundle,
    snapshot,
)

pytestmark = pytest.mark.reliability


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("data_safety")


@pytest.fixture(scope="module")
def table_model(workdir):
    return save_small_bundle(workdir / "table_model")


@pytest.fixture(scope="module")
def digits(workdir):
    return digit_folder(workdir / "digits")


@pytest.fixture(scope="module")
def image_model(workdir, digits):
    return save_small_image_bundle(workdir / "image_model", digits)


def score_settings(model, data, output, **extra) -> ScoreSettings:
    return ScoreSettings(model_uri=str(model), data=str(data), output=str(output), log_run=False, **extra)


# ------------------------------------------------------------------ maps
def test_maps_into_the_input_folder_are_refused_and_the_images_stay(image_model, digits, tmp_path):
    """Was: ``--maps imgs/`` replaced the whole image dataset with the maps, exit 0."""
    before = snapshot(digits)
    for maps in (digits, digits / "test", digits.parent):  # the input, a folder inside it, a folder holding it
        with pytest.raises(OutputRefused, match="input DATA"):
            run_score(score_settings(image_model, digits, tmp_path / "s.csv", maps=str(maps), overwrite=True))
    assert snapshot(digits) == before and not (tmp_path / "s.csv").exists()


def test_maps_never_replace_a_folder_unless_told(image_model, digits, tmp_path):
    """Was: ``--maps DIR`` deleted whatever DIR held."""
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "notes.txt").write_text("mine")
    with pytest.raises(OutputRefused, match="not empty.*--overwrite"):
        run_score(score_settings(image_model, digits, tmp_path / "s.csv", maps=str(kept)))
    assert (kept / "notes.txt").read_text() == "mine"
    run_score(score_settings(image_model, digits, tmp_path / "s.csv", maps=str(kept), overwrite=True))
    assert not (kept / "notes.txt").exists() and any(kept.rglob("*.png"))


def test_map_names_are_one_to_one_with_the_images_and_have_one_suffix(image_model, tmp_path):
    """Was: ``test/a/b__c.png`` and ``test/a__b/c.png`` both became ``test__a__b__c.png.png``: one map for two rows."""
    from PIL import Image

    data = tmp_path / "images"
    pixels = (np.random.default_rng(0).random((8, 8)) * 255).astype(np.uint8)
    for name in ("a/b__c.png", "a__b/c.png", "x.png", "x.jpg"):
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(data / name)
    result = run_score(score_settings(image_model, data, tmp_path / "s.csv", maps=str(tmp_path / "maps")))
    maps = sorted(str(p.relative_to(tmp_path / "maps")) for p in (tmp_path / "maps").rglob("*.png"))
    assert result.rows == 4 and len(maps) == 4, maps
    assert all(not m.endswith(".png.png") for m in maps) and "a/b__c.png" in maps and "a__b/c.png" in maps


def test_any_image_folder_scores_not_only_the_dataset_root(image_model, digits, tmp_path):
    """Was: ``score MODEL outputs/digit_images/test ...`` said the folder "holds no PNG or JPEG images"."""
    result = run_score(score_settings(image_model, digits / "test", tmp_path / "s.csv"))
    table = pd.read_csv(tmp_path / "s.csv")
    assert result.rows == len(list((digits / "test").rglob("*.png"))) == len(table)
    assert table["path"].str.contains("/").all()  # test/<kind>/<file>, relative to the folder given


# ------------------------------------------------------------------ score and sample outputs
def test_score_never_replaces_an_existing_file_unless_told(table_model, tmp_path):
    out = tmp_path / "s.csv"
    out.write_text("precious")
    with pytest.raises(OutputRefused, match="already exists.*--overwrite"):
        run_score(score_settings(table_model, TEST, out))
    assert out.read_text() == "precious"
    run_score(score_settings(table_model, TEST, out, overwrite=True))
    assert "anomaly_score" in out.read_text()
    with pytest.raises(OutputRefused, match="input DATA"):  # --overwrite never reaches an input
        run_score(score_settings(table_model, out, out, overwrite=True))


def test_a_missing_input_is_reported_before_the_model_loads(tmp_path):
    """Was: a missing DATA file was reported after the model had loaded (about 25 s)."""
    with pytest.raises(ValueError, match="DATA .*no such file"):
        run_score(score_settings(tmp_path / "no-model", tmp_path / "missing.csv", tmp_path / "s.csv"))


def test_sample_counts_are_capped_and_drawn_in_chunks(table_model, tmp_path, monkeypatch):
    """Was: ``sample MODEL 200000000`` drew every code at once and ended in a traceback."""
    from pipelines import sample
    from pipelines.modalities import load_bundle

    with pytest.raises(ValueError, match="at most 10,000,000"):
        sample.run_sample(str(table_model), 200_000_000, str(tmp_path / "s.csv"))
    width = int(np.prod(load_bundle(table_model).detector.vae_.event_shape))
    monkeypatch.setattr("anomaly_vae.generation.generative.MAX_SAMPLE_VALUES", width * 20)  # 20 rows a chunk
    with pytest.raises(ValueError, match="draw at most 20 per call"):  # the library's own bound
        load_bundle(table_model).detector.sample(21)
    chunked = sample.run_sample(str(table_model), 50, str(tmp_path / "chunked.csv"), random_state=3)
    rows = pd.read_csv(chunked.output)
    assert chunked.n == len(rows) == 50
    assert not rows.iloc[:20].reset_index(drop=True).equals(rows.iloc[20:40].reset_index(drop=True))  # own seeds
    again = sample.run_sample(str(table_model), 50, str(tmp_path / "again.csv"), random_state=3)
    pd.testing.assert_frame_equal(pd.read_csv(again.output), rows)  # the same seed, the same samples
    with pytest.raises(OutputRefused, match="input MODEL"):
        sample.run_sample(str(table_model), 5, str(table_model), overwrite=True)


# ------------------------------------------------------------------ impute
def test_impute_writes_observed_values_back_as_read_and_refuses_its_input(tmp_path):
    """Was: whole numbers above 2^63 became -9223372036854775808, observed values included; ``impute DATA DATA``
    overwrote the input."""
    from pipelines.impute import run_impute

    rng = np.random.default_rng(0)
    big = [f"{2**63 + 10**6 * i + 7}.0" for i in range(60)]  # whole numbers beyond int64, read as float64
    x = rng.normal(size=60)
    lines = ["id,big,x"] + [f"{i},{b if i % 9 else ''},{v:.17g}" for i, (b, v) in enumerate(zip(big, x))]
    data = tmp_path / "in.csv"
    data.write_text("\n".join(lines) + "\n")
    before = data.read_bytes()
    with pytest.raises(OutputRefused, match="input DATA"):
        run_impute(str(data), str(data), params={"epochs": 1}, log_run=False, overwrite=True)
    assert data.read_bytes() == before
    run_impute(
        str(data), str(tmp_path / "out.csv"), params={"epochs": 2, "hidden_units": (8,)}, log_run=False, ignore=["id"]
    )
    out = pd.read_csv(tmp_path / "out.csv", dtype=str)
    observed = [i for i in range(60) if i % 9]
    assert out["big"].iloc[observed].tolist() == [big[i] for i in observed]
    assert out["x"].iloc[observed].tolist() == [f"{x[i]:.17g}" for i in observed]
    filled = out["big"].iloc[[i for i in range(60) if not i % 9]]
    assert filled.str.fullmatch(r"\d+").all()  # whole numbers, never a wrapped negative


def test_sigterm_during_impute_is_one_line_and_exit_130(tmp_path):
    """Was: SIGTERM during ``impute`` exited 143 with no message."""
    rng = np.random.default_rng(0)
    # large enough that training outlasts the wait on a fast machine too: 60,000 rows are about 470 steps an epoch,
    # and early stopping cannot end the fit before its patience (50 of the 500 epochs) has passed
    frame = pd.DataFrame(rng.normal(size=(60_000, 6)), columns=list("abcdef"))
    frame.iloc[::5, 0] = np.nan
    frame.to_csv(tmp_path / "in.csv", index=False)
    proc = popen_cli(
        "impute", tmp_path / "in.csv", tmp_path / "out.csv", "--epochs", "500", "--no-log-run", cwd=tmp_path
    )
    time.sleep(25)  # past the imports (several seconds on a busy machine), into the fit
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err and "error: imputation stopped (SIGTERM received)" in err
    assert not (tmp_path / "out.csv").exists()


# ------------------------------------------------------------------ sizes
def test_more_convolution_stages_than_the_image_allows_are_refused_before_building():
    """Was: ``--filters 8,8,8,8,8,8,8,8,8,8,8,8`` on 8 x 8 images grew to 21 GB and was killed by the kernel."""
    from anomaly_vae import VAEImageDetector

    images = np.random.default_rng(0).random((4, 8, 8))
    with pytest.raises(ValueError, match="12 convolution stages, but 8 x 8 images allow at most 3"):
        VAEImageDetector(filters=(8,) * 12, epochs=1).fit(images)


def test_huge_images_are_refused_by_the_memory_their_network_would_need():
    """Was: 4000 x 4000 images, which the pixel limit admits, ended in a MemoryError traceback."""
    from anomaly_vae.network.conv_parts import ConvEncoder

    with pytest.raises(ValueError, match="4000 x 4000 x 1 images .* weights, more than the"):
        ConvEncoder((4000, 4000, 1), 16)


def test_settings_a_user_or_file_gives_have_bounds():
    """Was: ``n_samples`` of 10^9 loaded from a tampered file; no bound on members, windows or widths."""
    from sklearn.utils._param_validation import InvalidParameterError

    from anomaly_vae import VAEAnomalyDetector, VAESeriesDetector

    for params in ({"n_samples": 10**9}, {"n_members": 10**6}, {"batch_size": 10**9}):
        with pytest.raises(InvalidParameterError):
            VAEAnomalyDetector(**params)._validate_params()
    with pytest.raises(InvalidParameterError):
        VAESeriesDetector(window=10**9)._validate_params()
    with pytest.raises(ValueError, match="hidden_units=.*at most 65,536"):
        VAEAnomalyDetector(hidden_units=(10**9,), epochs=1).fit(np.random.default_rng(0).normal(size=(20, 3)))


# ------------------------------------------------------------------ series
@pytest.mark.parametrize("tz", ["UTC", "Europe/Berlin"])
def test_time_zone_aware_and_offset_time_columns_work(tz):
    """Was: ``TypeError: '<' not supported between 'Timedelta' and 'int'``; local offsets were told to use utc=True,
    which led to that crash."""
    from anomaly_vae.inputs.series_input import check_series

    times = pd.date_range("2024-03-31", periods=6, freq="h", tz=tz)  # across Berlin's daylight-saving change
    for column in (times, [t.isoformat() for t in times]):
        series = check_series(pd.DataFrame({"t": column, "v": np.arange(6.0)}), "t")
        assert series.step == pd.Timedelta(hours=1)


def test_float_steps_use_one_tolerance_for_the_check_and_the_detector():
    """Was: a series stepping by 0.1 trained a model that could never score such a series (exact comparison)."""
    from anomaly_vae import VAESeriesDetector

    t = np.arange(300) * 0.1
    frame = pd.DataFrame({"t": t, "v": np.sin(t)})
    detector = VAESeriesDetector(window=8, time_column="t", epochs=1, random_state=0).fit(frame)
    shifted = pd.DataFrame({"t": 0.7 + np.arange(100) * 0.1, "v": np.sin(np.arange(100) * 0.1)})
    assert shifted["t"].diff().iloc[1:].nunique() > 1  # float rounding: not one exact step
    assert np.isfinite(detector.score_samples(shifted)).all()


# ------------------------------------------------------------------ tracking
def test_an_unusable_store_fails_in_seconds_with_one_line(table_model, tmp_path):
    """Was: a tracking URI naming a folder hung about five minutes; a bad store printed MLflow's tracebacks."""
    (tmp_path / "folder").mkdir()
    (tmp_path / "text.db").write_text("not a database")
    for store, fragment in [(tmp_path / "folder", "names a folder"), (tmp_path / "text.db", "not an SQLite")]:
        started = time.monotonic()
        result = cli(
            "score",
            table_model,
            TEST,
            tmp_path / "s.csv",
            "--tracking-uri",
            f"sqlite:///{store}",
            "--overwrite",
            cwd=tmp_path,
        )
        assert_user_error(result, 3, fragment)
        assert time.monotonic() - started < 200  # a guard against the old five minutes of retries, not a timing
        assert "ERROR" not in result.stderr and "sqlalchemy" not in result.stderr.lower()


# ------------------------------------------------------------------ loading
def _tampered(model: Path, tmp_path: Path, edit) -> Path:
    copy = tmp_path / f"tampered-{len(list(tmp_path.iterdir()))}"
    shutil.copytree(model, copy)
    path = copy / "detector" / "detector.json"
    path.write_text(edit(path.read_text()))
    return copy


def test_deeply_nested_or_repeated_keys_or_absurd_values_are_refused_on_loading(table_model, tmp_path):
    """Was: 100,000 nested brackets gave a RecursionError traceback; a duplicated key and a threshold of -1e300
    loaded."""
    from pipelines.modalities import load_bundle

    cases = [
        (lambda t: t[:-1] + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}", "deeper than"),
        (lambda t: t[:-1] + ', "format": ' + str(json.loads(t)["format"]) + "}", "twice"),
        (lambda t: json.dumps({**json.loads(t), "threshold_": -1e300}), "below every calibration score"),
    ]
    for edit, fragment in cases:
        with pytest.raises(ValueError, match=fragment):
            load_bundle(_tampered(table_model, tmp_path, edit))


def test_a_zero_time_step_is_refused_on_loading(tmp_path):
    """Was: a zero or negative ``time_step_`` loaded."""
    from anomaly_vae import VAESeriesDetector
    from anomaly_vae.persistence.model_files import load_detector, save_detector

    detector = VAESeriesDetector(window=8, time_column="t", epochs=1, random_state=0)
    detector.fit(pd.DataFrame({"t": np.arange(200), "v": np.sin(np.arange(200) / 5)}))
    folder = save_detector(detector, tmp_path / "series")
    path = folder / "detector.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "time_step_": 0}))
    with pytest.raises(ValueError, match="time_step_: 0 is not a positive step"):
        load_detector(folder)


def test_an_imputer_whose_column_names_were_reordered_is_refused_on_loading(tmp_path):
    """Was: an imputer.json with its column names reversed loaded, and imputed each column with another's model."""
    from anomaly_vae import VAEImputer
    from anomaly_vae.persistence.imputer_persistence import load_imputer, save_imputer

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(60, 3)) * [1, 10, 100], columns=["a", "b", "c"])
    frame.iloc[::7, 0] = np.nan
    folder = save_imputer(VAEImputer(epochs=1, hidden_units=(8,), random_state=0).fit(frame), tmp_path / "imputer")
    assert list(load_imputer(folder).feature_names_in_) == ["a", "b", "c"]
    path = folder / "imputer.json"
    state = json.loads(path.read_text())
    path.write_text(json.dumps({**state, "feature_names_in_": ["c", "b", "a"]}))
    with pytest.raises(ValueError, match="are not the columns its VAE was fitted on"):
        load_imputer(folder)


# ------------------------------------------------------------------ calibration
def test_a_threshold_on_too_few_calibration_scores_warns_and_says_its_rule():
    """Was: thresholds "at target false-positive rate 0.01" set on 1 or 2 calibration rows without a warning; a pot
    rule that fell back to the quantile was reported as "by the pot rule"."""
    from types import SimpleNamespace

    from anomaly_vae.decisions.p_values import CalibrationWarning
    from anomaly_vae.decisions.threshold import fit_threshold
    from pipelines.review.calibration_report import describe

    with pytest.warns(CalibrationWarning, match="set on 2 calibration score.*at least 100"):
        fit_threshold([1.0, 2.0], "quantile", 0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pot = fit_threshold(np.random.default_rng(0).normal(size=50), "pot", 1e-12)
    detector = SimpleNamespace(
        calibration_scores_=np.zeros(50),
        threshold_=pot.value,
        threshold_rule_="pot",
        target_fpr_=1e-12,
        tail_=pot.tail,
        _calibration_share=lambda: 0.1,
    )
    assert "by the quantile rule (the pot rule fell back to it" in describe(detector)
