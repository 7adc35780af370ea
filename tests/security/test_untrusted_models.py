"""A model folder or URI never runs code, and damaged models are refused with one line (issue 15, items 1-4, 7)."""

from __future__ import annotations

import builtins
import json
import shutil

import numpy as np
import pytest

from pipelines.modalities.table.bundle import ModelBundle
from tests.security.helpers import TEST, assert_user_error, cli, save_small_bundle

pytestmark = pytest.mark.reliability


@pytest.fixture(scope="module")
def bundle_folder(tmp_path_factory):
    return save_small_bundle(tmp_path_factory.mktemp("bundle") / "model")


@pytest.fixture
def copy(bundle_folder, tmp_path):
    return shutil.copytree(bundle_folder, tmp_path / "model")


def exec_chain(marker):
    """numpy.full_like -> numpy.ravel -> builtins.min -> builtins.exec: code text from the file, run on transform."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    code = f"open({str(marker)!r}, 'w').write('pwned')"
    return Pipeline(
        [
            ("text", FunctionTransformer(np.full_like, kw_args={"fill_value": code, "dtype": object})),
            ("flat", FunctionTransformer(np.ravel)),
            ("one", FunctionTransformer(builtins.min)),
            ("run", FunctionTransformer(builtins.exec)),
        ]
    )


def eval_chain(marker):
    """numpy.full_like -> numpy.ravel -> builtins.max -> builtins.eval: a second, different chain."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    code = f"__import__('pathlib').Path({str(marker)!r}).write_text('pwned')"
    return Pipeline(
        [
            ("text", FunctionTransformer(np.full_like, kw_args={"fill_value": code, "dtype": object})),
            ("flat", FunctionTransformer(np.ravel)),
            ("one", FunctionTransformer(builtins.max)),
            ("run", FunctionTransformer(builtins.eval)),
        ]
    )


@pytest.mark.parametrize("chain", [exec_chain, eval_chain])
@pytest.mark.parametrize("target", ["preprocessor.skops", "detector/scaler.skops"])
def test_function_chains_in_either_skops_file_are_refused_and_never_run(copy, tmp_path, chain, target):
    import skops.io as sio

    from anomaly_vae.persistence import trusted_skops

    marker = tmp_path / "marker"
    sio.dump(chain(marker), copy / target)
    # the attacker also rewrites the recorded type list to match the file
    meta_path = copy / ("bundle.json" if target == "preprocessor.skops" else "detector/detector.json")
    meta = json.loads(meta_path.read_text())
    meta["preprocessor_types" if target == "preprocessor.skops" else "scaler_types"] = trusted_skops.file_types(
        copy / target
    )
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="types that anomaly-vae never writes") as err:
        ModelBundle.load(copy).score(__import__("pandas").read_csv(TEST).head(5))
    assert "FunctionTransformer" in str(err.value)
    assert not marker.exists()


def test_types_differing_from_the_recorded_list_are_refused(copy):
    import skops.io as sio
    from sklearn.preprocessing import RobustScaler

    sio.dump(RobustScaler().fit(np.eye(3)), copy / "detector" / "scaler.skops")  # allowed type, not the one saved
    with pytest.raises(ValueError, match="differ from those recorded"):
        ModelBundle.load(copy)


def test_cli_refuses_a_tampered_scaler_with_exit_2(copy, tmp_path):
    import skops.io as sio

    marker = tmp_path / "marker"
    sio.dump(exec_chain(marker), copy / "detector" / "scaler.skops")
    out = cli("score", copy, TEST, tmp_path / "s.csv", "--no-log-run", cwd=tmp_path)
    assert_user_error(out, 2, "scaler.skops", "never writes")
    assert not marker.exists() and not (tmp_path / "s.csv").exists()


class Payload:
    """Unpickling it writes the marker file: what a cloudpickled foreign model can do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


@pytest.fixture
def foreign_model(tmp_path):
    import mlflow

    class ForeignModel(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return model_input

    model = ForeignModel()
    model.payload = Payload(tmp_path / "marker")
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(store)
    mlflow.set_experiment("foreign")
    with mlflow.start_run() as run:
        mlflow.pyfunc.log_model(name="model", python_model=model)
    (tmp_path / "marker").unlink(missing_ok=True)  # MLflow itself round-trips the pickle while logging
    return f"runs:/{run.info.run_id}/model", store, tmp_path / "marker"


def test_a_pickled_foreign_mlflow_model_is_refused_before_it_is_loaded(foreign_model):
    from pipelines.model_source import load_model

    uri, _, marker = foreign_model
    with pytest.raises(ValueError, match="not an anomaly-vae model"):
        load_model(uri)
    assert not marker.exists()


def test_cli_refuses_a_pickled_foreign_mlflow_model_with_exit_2(foreign_model, tmp_path):
    uri, store, marker = foreign_model
    out = cli("score", uri, TEST, tmp_path / "s.csv", "--tracking-uri", store, "--no-log-run", cwd=tmp_path)
    assert_user_error(out, 2, uri, "not an anomaly-vae model")
    assert not marker.exists()


@pytest.mark.parametrize(
    "damage, field",
    [
        (lambda m: m.pop("schema"), "'schema' is a required property"),
        (lambda m: m.update(extra=1), "'extra' was unexpected"),
        (lambda m: m["schema"].update(numeric="amount"), "field schema.numeric"),
        (
            lambda m: m["numeric_support"].update(low=["0"] * len(m["numeric_support"]["low"])),
            "field numeric_support.low",
        ),
    ],
)
def test_damaged_bundle_json_is_refused_naming_the_file_and_field(copy, damage, field):
    meta = json.loads((copy / "bundle.json").read_text())
    damage(meta)
    (copy / "bundle.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError) as err:
        ModelBundle.load(copy)
    assert "bundle.json" in str(err.value) and field in str(err.value)


@pytest.mark.parametrize(
    "damage, field",
    [
        (lambda m: m["params"].update(dropout=0.5), "field params: Additional properties are not allowed ('dropout'"),
        (lambda m: m["params"].update(beta="high"), "field params: The 'beta' parameter"),
        (lambda m: m.pop("threshold_"), "'threshold_' is a required property"),
        (lambda m: m.update(n_features_in_="8"), "field n_features_in_"),
        (
            lambda m: m.update(threshold_=None),
            "field threshold_: null (infinite) is only written for the conformal rule",
        ),
        (lambda m: m.update(calibration_scores_=[]), "field calibration_scores_"),
        (lambda m: m.update(threshold_rule_="median"), "field threshold_rule_"),
        (
            lambda m: m.update(
                tail_={"start": 1.0, "shape": 0.1, "scale": -1.0, "n_excesses": 50, "n_calibration": 500}
            ),
            "field tail_: scale must be positive",
        ),
        (lambda m: m.pop("calibration_scores_"), "field calibration_scores_ is missing"),
        (
            lambda m: m["latent_mixture_"].update(weights=[-1.0] + m["latent_mixture_"]["weights"][1:]),
            "field latent_mixture_: the weights must be non-negative",
        ),
        (lambda m: m["latent_mixture_"].update(covariances="eye"), "field latent_mixture_.covariances"),
        (
            lambda m: m["column_support_"].update(decimals=[400] * len(m["column_support_"]["decimals"])),
            "field column_support_: decimals must be",
        ),
        (lambda m: m.pop("latent_mixture_"), "field latent_mixture_ is missing"),
    ],
)
def test_damaged_detector_json_is_refused_naming_the_file_and_field(copy, damage, field):
    path = copy / "detector" / "detector.json"
    meta = json.loads(path.read_text())
    damage(meta)
    path.write_text(json.dumps(meta))
    with pytest.raises(ValueError) as err:
        ModelBundle.load(copy)
    assert "detector.json" in str(err.value) and field in str(err.value)


def test_cli_refuses_damaged_metadata_without_a_traceback(copy, tmp_path):
    meta = json.loads((copy / "bundle.json").read_text())
    del meta["schema"]
    (copy / "bundle.json").write_text(json.dumps(meta))
    out = cli("score", copy, TEST, tmp_path / "s.csv", "--no-log-run", cwd=tmp_path)
    assert_user_error(out, 2, "bundle.json", "schema")


def nan_weights(folder):
    bundle = ModelBundle.load(folder)
    bundle.detector.vae_.set_weights(
        [np.full_like(w, np.nan) if w.dtype.kind == "f" else w for w in bundle.detector.vae_.get_weights()]
    )
    return bundle


def test_nan_weights_never_score_and_are_refused_on_loading(copy, tmp_path):
    bundle = nan_weights(copy)
    with pytest.raises(ValueError, match="non-finite anomaly score"):
        bundle.score(__import__("pandas").read_csv(TEST).head(5))
    bundle.save(copy)
    with pytest.raises(ValueError, match="holds NaN or inf"):
        ModelBundle.load(copy)


def test_cli_fails_on_a_nan_model_and_writes_nothing(copy, tmp_path):
    nan_weights(copy).save(copy)
    out = cli("score", copy, TEST, tmp_path / "s.csv", "--no-log-run", cwd=tmp_path)
    assert_user_error(out, 2, str(copy), "NaN")
    assert not (tmp_path / "s.csv").exists()


def test_cli_wrong_model_references_exit_2_and_a_down_server_exits_3(bundle_folder, tmp_path):
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    for uri in ("models:/no-such-model@champion", "runs:/0123456789abcdef/model", str(tmp_path / "no-such-folder")):
        out = cli("score", uri, TEST, tmp_path / "s.csv", "--tracking-uri", store, "--no-log-run", cwd=tmp_path)
        assert_user_error(out, 2, uri)
    out = cli(
        "score",
        "models:/m@champion",
        TEST,
        tmp_path / "s.csv",
        "--tracking-uri",
        "http://127.0.0.1:9",
        "--no-log-run",
        cwd=tmp_path,
        env={"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"},
    )
    assert_user_error(out, 3, "models:/m@champion")
    assert not (tmp_path / "s.csv").exists()
