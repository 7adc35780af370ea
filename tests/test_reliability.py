"""Reliability: property-based bad input, file fuzzing, training faults, interrupted fits, untrusted files."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from anomaly_vae import VAE
from anomaly_vae.network.callbacks import FailOnNonFiniteLoss, TrainingDivergedError
from anomaly_vae.persistence.model_files import compile_vae, load_detector, save_detector
from pipelines.demo_data import DATA_DIR
from pipelines.modalities.table.bundle import ModelBundle
from pipelines.tables import TableError, read_table
from tests.helpers import small_detector

pytestmark = pytest.mark.reliability
ROOT = Path(__file__).resolve().parents[1]
TRAIN, TEST = DATA_DIR / "transactions_train.csv", DATA_DIR / "transactions_test.csv"


def hypothesis_settings(max_examples: int) -> settings:
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


@pytest.fixture(scope="module")
def detector():
    rng = np.random.default_rng(0)
    return small_detector().fit(pd.DataFrame(rng.normal(size=(150, 4)), columns=list("abcd")))


def messy_arrays():
    """Random 2-D inputs: any width, any dtype, with NaN/inf/huge values sprinkled in."""
    floats = st.floats(allow_nan=True, allow_infinity=True, width=64) | st.sampled_from([0.0, 1e300, -1e300, 1e-300])
    shape = st.tuples(st.integers(0, 12), st.just(4) | st.integers(1, 6))  # the fitted width half the time
    return st.one_of(
        hnp.arrays(np.float64, shape, elements=floats),
        hnp.arrays(np.float32, shape, elements=st.floats(width=32, allow_nan=True, allow_infinity=True)),
        hnp.arrays(np.int64, shape, elements=st.integers(-(2**62), 2**62)),
        hnp.arrays(np.bool_, shape),
        hnp.arrays(object, shape, elements=st.sampled_from(["1.5", "abc", "", None, 3])),
    )


def test_scoring_gives_finite_scores_or_a_value_error(detector):
    outcomes = {"scored": 0, "refused": 0}

    @hypothesis_settings(120)
    @given(X=messy_arrays(), as_frame=st.booleans(), shuffle=st.randoms(use_true_random=False))
    def check(X, as_frame, shuffle):
        if as_frame:
            cols = list("abcdef")[: X.shape[1]]
            shuffle.shuffle(cols)
            X = pd.DataFrame(X, columns=cols)
        try:
            scores = detector.anomaly_score(X)
        except ValueError as err:
            assert str(err)
            outcomes["refused"] += 1
            return
        assert scores.shape == (len(X),) and np.isfinite(scores).all()
        outcomes["scored"] += 1

    check()
    assert outcomes["scored"] >= 10 and outcomes["refused"] >= 10, outcomes  # both paths were exercised


def test_fit_trains_to_finite_scores_or_raises_value_error():
    outcomes = {"fitted": 0, "refused": 0}

    @hypothesis_settings(12)
    @given(
        X=hnp.arrays(
            np.float64,
            st.tuples(st.integers(0, 30), st.integers(1, 4)),
            elements=st.floats(-1e6, 1e6) | st.sampled_from([np.nan, np.inf, 0.0, 5.0]),
        )
    )
    def check(X):
        det = small_detector(epochs=2)
        try:
            det.fit(X)
        except ValueError as err:
            assert str(err) and not hasattr(det, "vae_")
            outcomes["refused"] += 1
            return
        assert np.isfinite(det.anomaly_score(X)).all()
        outcomes["fitted"] += 1

    check()
    assert outcomes["fitted"] >= 2 and outcomes["refused"] >= 2, outcomes


@hypothesis_settings(150)
@given(
    suffix=st.sampled_from([".csv", ".parquet", ".npz"]),
    content=st.binary(max_size=300)
    | st.text(max_size=300).map(str.encode)
    | st.sampled_from([b"PAR1", b"PK\x03\x04", b"a,b\n1,2,3\n4\n", b'a,"b\n1,2', b"\xff\xfe\x00a"]),
)
def test_fuzzed_files_read_or_raise_table_error(tmp_path_factory, suffix, content):
    path = tmp_path_factory.mktemp("fuzz") / f"f{suffix}"
    path.write_bytes(content)
    try:
        frame = read_table(path)
    except TableError as err:
        assert str(path) in str(err)
        return
    assert isinstance(frame, pd.DataFrame) and len(frame) > 0


def test_diverging_loss_stops_with_the_epoch_named():
    vae = VAE(n_features=3, latent_dim=2, hidden_units=(4,), seed=0)
    vae.build((None, 3))
    compile_vae(vae)
    x = np.full((32, 3), 3e38, dtype="float32")  # squares overflow float32
    with pytest.raises(TrainingDivergedError, match="at epoch 1"):
        vae.fit(x, epochs=3, batch_size=16, verbose=0, callbacks=[FailOnNonFiniteLoss()])


def test_same_random_state_gives_same_weights_and_scores(normal_data):
    a, b = small_detector(random_state=5).fit(normal_data), small_detector(random_state=5).fit(normal_data)
    for wa, wb in zip(a.vae_.get_weights(), b.vae_.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    np.testing.assert_array_equal(a.anomaly_score(normal_data), b.anomaly_score(normal_data))


def test_detector_folder_round_trip_and_refusals(detector, tmp_path):
    folder = save_detector(detector, tmp_path / "det")
    X = np.random.default_rng(1).normal(size=(20, 4))
    np.testing.assert_array_equal(load_detector(folder).anomaly_score(X), detector.anomaly_score(X))
    meta = json.loads((folder / "detector.json").read_text())
    (folder / "detector.json").write_text(json.dumps({**meta, "format": 99}))
    with pytest.raises(ValueError, match="detector format 99"):
        load_detector(folder)
    (folder / "detector.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_detector(folder)
    with pytest.raises(ValueError, match="not a saved anomaly-vae detector"):
        load_detector(tmp_path)


class Untrusted:
    """Stands in for an arbitrary object smuggled into a model file."""


def test_skops_file_with_foreign_types_is_refused(detector, tmp_path):
    import skops.io as sio

    folder = save_detector(detector, tmp_path / "det")
    sio.dump({"scaler": Untrusted()}, folder / "scaler.skops")
    with pytest.raises(ValueError, match="types that anomaly-vae never writes"):
        load_detector(folder)


def cli(*args, cwd, env=None):
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", *args],
        cwd=cwd,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )


@pytest.mark.slow
def _resumable_input(kind: str, folder: Path) -> list[str]:
    """DATA and the options of a small fit of each modality."""
    if kind == "table":
        return [str(TRAIN), "--label-column", "label"]
    if kind == "images":
        from pipelines.demo_images import write_digit_images

        return [str(write_digit_images(folder / "digits", per_anomaly=3)), "--filters", "4,8", "--dense-units", "16"]
    times = pd.date_range("2026-01-01", periods=600, freq="min")
    values = np.sin(np.arange(600) / 10) + 0.05 * np.random.default_rng(0).normal(size=600)
    pd.DataFrame({"timestamp": times, "value": values}).to_csv(folder / "sensor.csv", index=False)
    return [str(folder / "sensor.csv"), "--time-column", "timestamp", "--window", "16"]


@pytest.mark.parametrize("kind", ["table", "images", "series"])
def test_sigterm_keeps_the_checkpoint_and_resume_continues_the_same_run(kind, tmp_path):
    import mlflow

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    common = [
        *_resumable_input(kind, tmp_path),
        "--verbose",
        "0",
        "--patience",
        "1000",
        "--tracking-uri",
        store,
        "--output-dir",
        str(tmp_path / "out"),
    ]
    proc = cli("fit", *common, "--epochs", "1000", cwd=tmp_path)
    checkpoints = tmp_path / "out" / "checkpoints"
    deadline = time.time() + 240

    def epochs_done():
        found = list(checkpoints.glob("*/keras/training_metadata.json"))
        return json.loads(found[0].read_text() or "{}").get("epoch", 0) if found else 0

    while epochs_done() < 2:
        assert proc.poll() is None and time.time() < deadline, proc.communicate()[1][-2000:]
        time.sleep(0.2)
    (checkpoint,) = list(checkpoints.iterdir())
    meta = checkpoint / "keras" / "training_metadata.json"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=600)  # a hang guard
    assert proc.returncode == 130, err[-2000:]
    assert "--resume" in err and "Traceback" not in err
    done = json.loads(meta.read_text())["epoch"]
    run_id = json.loads((checkpoint / "run.json").read_text())["run_id"]

    changed = cli("fit", *common, "--epochs", str(done + 2), "--beta", "0.5", "--resume", cwd=tmp_path)
    _, err = changed.communicate(timeout=600)  # another model than the checkpointed one: refused, checkpoint kept
    assert changed.returncode == 2 and "--beta was" in err and "now 0.5" in err and "Traceback" not in err, err[-2000:]
    assert checkpoint.exists()

    resumed = cli("fit", *common, "--epochs", str(done + 2), "--resume", cwd=tmp_path)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err[-2000:]
    assert f"run id: {run_id}" in out
    client = mlflow.MlflowClient(store)
    steps = [m.step for m in client.get_metric_history(run_id, "loss")]
    assert max(steps) == done + 1 and client.get_run(run_id).info.status == "FINISHED"
    assert not checkpoint.exists()


@pytest.mark.slow
def test_two_scoring_processes_share_one_sqlite_store(tmp_path):
    from pipelines.fit import run_fit
    from pipelines.settings import FitSettings

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    fitted = run_fit(
        FitSettings(
            data=str(TRAIN),
            label_column="label",
            epochs=2,
            verbose=0,
            tracking_uri=store,
            output_dir=str(tmp_path / "out"),
        )
    )
    procs = [
        cli("score", fitted.model_uri, str(TEST), str(tmp_path / f"s{i}.csv"), "--tracking-uri", store, cwd=tmp_path)
        for i in range(2)
    ]
    results = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, results):
        assert p.returncode == 0, err[-2000:]
    frames = [pd.read_csv(tmp_path / f"s{i}.csv") for i in range(2)]
    assert len(frames[0]) == len(frames[1]) == len(pd.read_csv(TEST))
    pd.testing.assert_frame_equal(frames[0], frames[1])


def test_bundle_from_another_version_is_refused(tmp_path):
    from pipelines.fit import run_fit
    from pipelines.settings import FitSettings

    fitted = run_fit(
        FitSettings(
            data=str(TRAIN),
            label_column="label",
            epochs=1,
            verbose=0,
            tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
            output_dir=str(tmp_path / "out"),
        )
    )
    folder = tmp_path / "copy"
    shutil.copytree(fitted.local_model, folder)
    meta = json.loads((folder / "bundle.json").read_text())
    (folder / "bundle.json").write_text(json.dumps({**meta, "format": 99}))
    with pytest.raises(ValueError, match="bundle format 99"):
        ModelBundle.load(folder)
    with pytest.raises(ValueError, match="not an anomaly-vae model bundle"):
        ModelBundle.load(tmp_path)


def test_pipeline_handles_unseen_categories_and_extreme_values(tmp_path):
    from pipelines.fit import run_fit
    from pipelines.settings import FitSettings

    fitted = run_fit(
        FitSettings(
            data=str(TRAIN),
            label_column="label",
            epochs=1,
            verbose=0,
            tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
            output_dir=str(tmp_path / "out"),
        )
    )
    bundle = ModelBundle.load(fitted.local_model)
    rows = pd.read_csv(TEST).head(4)
    rows.loc[0, "region"] = "mars"
    rows.loc[1, "amount"] = 1e200
    rows.loc[2, ["amount", "region"]] = [np.nan, None]
    rows["items"] = rows["items"].astype(object)
    rows.loc[3, "items"] = "7"  # a number arriving as a string
    scored = bundle.score(rows)
    assert np.isfinite(scored["anomaly_score"]).all()
    assert bundle.unknown_categories(rows) == {"region": 1}
    assert scored["anomaly_score"][1] > scored["anomaly_score"][3]
