"""Saving and loading a ``VAE`` in the ``.keras`` format: atomically, and in Keras safe mode."""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import zipfile
from pathlib import Path

import keras

from anomaly_vae.persistence.atomic import atomic_file, write_folder_atomically


def compile_vae(vae, learning_rate: float = 1e-3, clipnorm: float = 10.0, steps_per_execution: int = 1):
    """Compile ``vae`` with Adam and gradient-norm clipping (the training recipe of the detector).

    ``steps_per_execution`` runs several training steps per compiled call on JAX and
    TensorFlow, to pay the per-call overhead once per group (``benchmarks/RESULTS.md``, "Speed");
    PyTorch supports only 1.
    """
    from anomaly_vae.network.initializers import optimizer_slots_from_numpy

    if keras.backend.backend() == "torch":
        steps_per_execution = 1
    vae.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate, global_clipnorm=clipnorm),
        jit_compile="auto",
        steps_per_execution=max(1, int(steps_per_execution)),
    )
    if vae.built and not vae.optimizer.built:  # (fit would build it, with Keras' compiled zeros)
        with optimizer_slots_from_numpy():
            vae.optimizer.build(vae.trainable_variables)
    return vae


@contextlib.contextmanager
def tensorflow_left_alone():
    """While saving or loading, keep Keras from importing TensorFlow just to ask whether it exists.

    Keras' serializer checks ``module_utils.tensorflow.available`` for TensorFlow types, and that check
    imports TensorFlow: seconds of start-up and a screen of TensorFlow/absl/CUDA log lines in a JAX or
    torch process that never uses it. No object of a TensorFlow type can exist before TensorFlow is
    imported, so until it is, the answer "not available" is exact.
    """
    import sys

    try:
        from keras.src.utils import module_utils

        lazy = module_utils.tensorflow
        unresolved = lazy._available is None and "tensorflow" not in sys.modules
    except (ImportError, AttributeError):  # another Keras layout: leave it as it is
        unresolved = False
    if not unresolved:
        yield
        return
    lazy._available = False
    try:
        yield
    finally:
        lazy._available = None


def save_vae(vae, path: str | os.PathLike) -> Path:
    """Write ``vae`` to ``path`` (``.keras``) atomically: a temporary file, then a rename."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"A VAE is saved as a .keras file, got {str(path)!r}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path, suffix=".keras") as tmp, tensorflow_left_alone():
        vae.save(str(tmp))
    return path


def load_vae(path: str | os.PathLike):
    """Load a ``VAE`` saved by :func:`save_vae`, refusing files that carry arbitrary code.

    The model is loaded with ``compile=False`` (a saved optimizer or ``jit_compile``
    setting may not fit the current backend); call ``compile_vae`` to train further.
    """
    from anomaly_vae.network.vae import VAE

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No model file at {str(path)!r}.")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{str(path)!r} is not a readable .keras model file (a .keras file is a zip archive).")
    try:
        with tensorflow_left_alone():
            model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except ValueError as err:
        if "safe_mode" in str(err) or "lambda" in str(err).lower():
            raise ValueError(
                f"Refusing to load {str(path)!r}: it carries arbitrary Python code (for example a "
                "Lambda layer), which Keras safe mode does not execute."
            ) from err
        raise ValueError(f"{str(path)!r} is not a VAE saved by anomaly-vae: {err}") from err
    except Exception as err:  # zip, HDF5 and JSON errors from a foreign or corrupt file
        raise ValueError(f"{str(path)!r} is not a readable .keras model file: {err}") from err
    if not isinstance(model, VAE):
        raise ValueError(f"{str(path)!r} holds a {type(model).__name__}, not an anomaly_vae VAE.")
    return model


def vae_to_bytes(vae) -> bytes:
    """The ``.keras`` archive of ``vae`` as bytes (used for pickling the detector)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = save_vae(vae, Path(tmp) / "vae.keras")
        return path.read_bytes()


def vae_from_bytes(data: bytes):
    """Inverse of :func:`vae_to_bytes`, in safe mode."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "vae.keras"
        path.write_bytes(data)
        return load_vae(path)


DETECTOR_FORMAT = 8
"""Version of the on-disk detector layout written by :func:`save_detector` (2: the VAE's encoder and
decoder are lists of layers, no longer ``keras.Sequential``; 3: every weight has a leading ensemble-member
axis, so older weights do not fit; 4: the VAE has a ``kl_scale`` weight, and one-hot columns may be
left unscaled by ``categorical_groups``; 5: ``detector.json`` records the types in ``scaler.skops``; 6: the VAE is
composed of parts, so its layers' weights sit under ``encoder/`` and ``decoder/``; 7: the calibration scores,
threshold rule and tail fit are recorded, and an infinite threshold is written as null; 8: the latent mixture
:meth:`sample` draws codes from, and a table's column support, are recorded)."""

READABLE_FORMATS = (6, 7, DETECTOR_FORMAT)
"""Formats :func:`load_detector` reads. A format-6 detector has no calibration scores: its validation scores
calibrate it (what set its threshold then), with the rule ``"quantile"`` at its recorded ``target_fpr``."""


CALIBRATION_FIELDS = ("calibration_scores_", "threshold_rule_", "target_fpr_", "tail_")
"""``detector.json`` fields of format 7 that format 6 lacks."""

GENERATION_FIELDS = ("latent_mixture_", "column_support_")
"""``detector.json`` fields of format 8 that formats 6 and 7 lack (a detector loaded from those samples from the
prior only, unrounded)."""

DETECTOR_CLASSES = {
    "VAEAnomalyDetector": "anomaly_vae.detectors.table_detector",
    "VAEImageDetector": "anomaly_vae.detectors.image_detector",
    "VAESeriesDetector": "anomaly_vae.detectors.series_detector",
}
"""The detector classes a ``detector.json`` may name (its ``class`` field), and where they live."""


def _detector_class(name: str):
    import importlib

    return getattr(importlib.import_module(DETECTOR_CLASSES[name]), name)


def detector_document_schema(class_name: str = "VAEAnomalyDetector") -> dict:
    """JSON Schema of ``detector.json`` for one detector class; the parameters are the class's own."""
    from anomaly_vae.choices import THRESHOLD_RULES
    from anomaly_vae.decisions.tail import TailFit
    from anomaly_vae.persistence.documents import numbers, strict_object, strings

    params: dict[str, dict] = {name: {} for name in _detector_class(class_name)().get_params()}
    tail = strict_object(
        {f: {"type": "integer" if f.startswith("n_") else "number"} for f in TailFit.__dataclass_fields__}
    )
    common = {
        "format": {"enum": list(READABLE_FORMATS)},
        "class": {"const": class_name},
        "anomaly_vae_version": {"type": "string"},
        "params": {"type": "object", "properties": params, "additionalProperties": False},
        "threshold_": {"type": ["number", "null"]},
        "n_epochs_": {"type": "integer", "minimum": 0},
        "history_": {"type": "object", "additionalProperties": numbers()},
        "validation_scores_": numbers(minItems=1),
        "calibration_scores_": numbers(minItems=1),
        "threshold_rule_": {"enum": list(THRESHOLD_RULES)},
        "target_fpr_": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        "tail_": {"anyOf": [{"type": "null"}, tail]},
        "latent_mixture_": strict_object(
            {
                "weights": numbers(minItems=1),
                "means": {"type": "array", "items": numbers()},
                "covariances": {"type": "array", "items": {"type": "array", "items": numbers()}},
            }
        ),
    }
    columns = {
        "n_features_in_": {"type": "integer", "minimum": 1},
        "feature_names_in_": {"anyOf": [{"type": "null"}, strings()]},
        "scaler_types": strings(),
    }
    support = column_support_schema()
    if class_name == "VAEImageDetector":
        shape = {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 3, "maxItems": 3}
        document = strict_object({**common, "image_shape_": shape})
    elif class_name == "VAESeriesDetector":  # the step between timestamps: a number, an ISO 8601 duration, or null
        from anomaly_vae.detectors.series_detector import MAX_WINDOW

        window = {"type": "integer", "minimum": 2, "maximum": MAX_WINDOW}  # absent before window="auto": the param
        document = strict_object(
            {**common, **columns, "time_step_": {"type": ["number", "string", "null"]}, "window_": window}
        )
    else:
        document = strict_object({**common, **columns, "column_support_": support})
    # formats 6 and 7 lack some fields; load_detector requires them of the formats that have them
    optional = CALIBRATION_FIELDS + GENERATION_FIELDS + ("window_",)
    document["required"] = [f for f in document["required"] if f not in optional]
    return document


def column_support_schema() -> dict:
    """JSON Schema of a :class:`~anomaly_vae.generation.column_support.ColumnSupport` (``ColumnSupport.to_dict``)."""
    from anomaly_vae.persistence.documents import strict_object

    ends = {"type": "array", "items": {"type": ["number", "null"]}}
    return strict_object(
        {"decimals": {"type": "array", "items": {"type": ["integer", "null"], "minimum": 0}}, "low": ends, "high": ends}
    )


def save_detector(detector, folder: str | os.PathLike, replace: bool = True) -> Path:
    """Save a fitted detector (``VAEAnomalyDetector``, ``VAEImageDetector`` or ``VAESeriesDetector``) to ``folder`` without
    pickle, atomically.

    The folder holds ``vae.keras`` (Keras format), ``detector.json`` (class, parameters, threshold,
    validation scores, training history) and, for a table or a series, ``scaler.skops`` (the fitted scikit-learn
    transform, in skops' safe format, its types checked against an allow-list and recorded in
    ``detector.json``). ``replace=False`` never replaces an existing folder.
    """
    import json

    import numpy as np
    from sklearn.utils.validation import check_is_fitted

    import anomaly_vae
    from anomaly_vae.persistence import trusted_skops

    check_is_fitted(detector)
    class_name = type(detector).__name__
    if class_name not in DETECTOR_CLASSES or type(detector) is not _detector_class(class_name):
        raise TypeError(f"save_detector saves {sorted(DETECTOR_CLASSES)}, not {class_name}.")
    params = {k: v for k, v in detector.get_params().items() if not (k == "random_state" and not _is_plain(v))}
    for key in ("hidden_units", "filters"):
        if isinstance(params.get(key), tuple):
            params[key] = list(params[key])
    state = {
        "format": DETECTOR_FORMAT,
        "class": class_name,
        "anomaly_vae_version": anomaly_vae.__version__,
        "params": params,
        "threshold_": float(detector.threshold_) if np.isfinite(detector.threshold_) else None,
        "n_epochs_": int(detector.n_epochs_),
        "history_": detector.history_,
        "validation_scores_": [float(s) for s in detector.validation_scores_],
        "calibration_scores_": [float(s) for s in detector.calibration_scores_],
        "threshold_rule_": detector.threshold_rule_,
        "target_fpr_": float(detector.target_fpr_),
        "tail_": None if detector.tail_ is None else detector.tail_.to_dict(),
        "latent_mixture_": detector.latent_mixture_.to_dict(),
    }
    tabular = class_name != "VAEImageDetector"  # tables and series: columns and a fitted scaler
    if tabular:
        state["n_features_in_"] = int(detector.n_features_in_)
        state["feature_names_in_"] = [str(c) for c in getattr(detector, "feature_names_in_", [])] or None
    else:
        state["image_shape_"] = [int(s) for s in detector.image_shape_]
    if class_name == "VAESeriesDetector":
        state["time_step_"] = _time_step_to_json(detector.time_step_)
        state["window_"] = int(detector.window_)
    elif class_name == "VAEAnomalyDetector":
        state["column_support_"] = detector.column_support_.to_dict()

    def write(tmp: Path) -> None:
        save_vae(detector.vae_, tmp / "vae.keras")
        if tabular:
            state["scaler_types"] = trusted_skops.dump(detector.scaler_, tmp / "scaler.skops")
        (tmp / "detector.json").write_text(json.dumps(state, indent=1, allow_nan=False))

    return write_folder_atomically(folder, write, replace=replace)


def load_detector(folder: str | os.PathLike):
    """Load a detector saved by :func:`save_detector`.

    Refuses, with one line naming the file and the field: a folder that is not a detector, an
    unknown format version or detector class, a ``detector.json`` that does not match its schema or holds
    an invalid parameter, a ``scaler.skops`` with types outside the allow-list, a ``vae.keras`` carrying
    code or parts of other types, and weights or scores that are not finite.
    """
    import numpy as np
    from sklearn.utils._param_validation import InvalidParameterError

    from anomaly_vae.decisions.tail import TailFit
    from anomaly_vae.generation.column_support import ColumnSupport
    from anomaly_vae.generation.latent_mixture import LatentMixture
    from anomaly_vae.persistence import trusted_skops
    from anomaly_vae.persistence.documents import check_finite_numbers, read_document

    folder = Path(folder)
    meta_path = folder / "detector.json"
    if not meta_path.is_file():
        raise ValueError(f"{str(folder)!r} is not a saved anomaly-vae detector (no detector.json).")
    head = {
        "type": "object",
        "required": ["format", "class"],
        "properties": {"format": {"enum": list(READABLE_FORMATS)}, "class": {"enum": sorted(DETECTOR_CLASSES)}},
    }
    class_name = read_document(meta_path, head, "detector")["class"]
    state = read_document(meta_path, detector_document_schema(class_name), "detector")
    detector = _detector_class(class_name)(**state["params"])
    try:
        detector._validate_params()
    except InvalidParameterError as err:
        raise ValueError(f"{str(meta_path)!r}: field params: {err}") from None
    for key in ("hidden_units", "filters"):
        if getattr(detector, key, None) is not None:
            setattr(detector, key, tuple(getattr(detector, key)))
    if state["format"] == 6:  # calibrated on the validation scores, by the quantile rule
        state = {
            "calibration_scores_": state["validation_scores_"],
            "threshold_rule_": "quantile",
            "target_fpr_": detector.target_fpr,
            "tail_": None,
            **state,
        }
    required = CALIBRATION_FIELDS + (GENERATION_FIELDS if state["format"] >= 8 else ())
    missing = [
        f for f in required if f not in state and not (f == "column_support_" and class_name != "VAEAnomalyDetector")
    ]
    if missing:
        raise ValueError(f"{str(meta_path)!r}: field {missing[0]} is missing.")
    if state["threshold_"] is not None:
        check_finite_numbers([state["threshold_"]], meta_path, "threshold_")
    elif state["threshold_rule_"] != "conformal" or state["format"] == 6:  # only a conformal threshold is infinite
        raise ValueError(
            f"{str(meta_path)!r}: field threshold_: null (infinite) is only written for the conformal "
            f"rule, not {state['threshold_rule_']!r}."
        )
    check_finite_numbers(state["validation_scores_"], meta_path, "validation_scores_")
    check_finite_numbers(state["calibration_scores_"], meta_path, "calibration_scores_")
    _check_meaning(state, meta_path)
    tail = state["tail_"]
    if tail is not None:
        check_finite_numbers(list(tail.values()), meta_path, "tail_")
        if not (tail["scale"] > 0 and 0 < tail["n_excesses"] <= tail["n_calibration"]):
            raise ValueError(
                f"{str(meta_path)!r}: field tail_: scale must be positive and 0 < n_excesses <= "
                f"n_calibration; got {tail}."
            )
    vae_path = folder / "vae.keras"
    if class_name != "VAEImageDetector":
        names = state["feature_names_in_"]
        if names is not None and len(names) != state["n_features_in_"]:
            raise ValueError(
                f"{str(meta_path)!r}: field feature_names_in_: {len(names)} names for "
                f"{state['n_features_in_']} features."
            )
        detector.scaler_ = trusted_skops.load(folder / "scaler.skops", state["scaler_types"])
        event_shape: tuple[int, ...] = (int(state["n_features_in_"]),)
        detector.n_features_in_ = event_shape[0]
        if names:
            detector.feature_names_in_ = np.asarray(names, dtype=object)
        if class_name == "VAESeriesDetector":
            detector.time_step_ = _time_step_from_json(state["time_step_"], meta_path)
            if "window_" in state:
                detector.window_ = int(state["window_"])
            elif detector.window == "auto":
                raise ValueError(f"{str(meta_path)!r}: field window_ is missing (params say window 'auto').")
            else:  # saved before window="auto": the window is the parameter
                detector.window_ = int(detector.window)
            event_shape = (detector.window_, event_shape[0])
            if detector.architecture == "dense":
                event_shape = (event_shape[0] * event_shape[1],)
    else:
        event_shape = tuple(int(s) for s in state["image_shape_"])
        detector.image_shape_ = event_shape
        detector.n_features_in_ = int(np.prod(event_shape))
    detector.vae_ = load_vae(vae_path)
    if tuple(detector.vae_.event_shape) != event_shape:
        raise ValueError(
            f"{str(vae_path)!r} takes examples of shape {tuple(detector.vae_.event_shape)} but "
            f"{str(meta_path)!r} says {event_shape}."
        )
    check_finite_weights(detector.vae_, vae_path)
    detector.threshold_ = float("inf") if state["threshold_"] is None else float(state["threshold_"])
    detector.offset_ = -detector.threshold_
    detector.threshold_rule_ = state["threshold_rule_"]
    detector.target_fpr_ = float(state["target_fpr_"])
    detector.tail_ = None if tail is None else TailFit(**tail)
    detector.n_epochs_ = int(state["n_epochs_"])
    detector.history_ = state["history_"]
    detector.validation_scores_ = np.asarray(state["validation_scores_"], dtype=np.float64)
    detector.calibration_scores_ = np.asarray(state["calibration_scores_"], dtype=np.float64)
    mixture, where = state.get("latent_mixture_"), f"{str(meta_path)!r}: field"
    detector.latent_mixture_ = (
        None
        if mixture is None
        else LatentMixture.from_dict(mixture, detector.vae_.latent_dim, f"{where} latent_mixture_")
    )
    if class_name == "VAEAnomalyDetector":
        support = state.get("column_support_")
        n_scaled = len(detector._scaled_columns(detector.n_features_in_))
        detector.column_support_ = (
            None if support is None else ColumnSupport.from_dict(support, n_scaled, f"{where} column_support_")
        )
    detector._scorers = {}
    return detector


def _check_meaning(state: dict, path) -> None:
    """Values that are well typed but that no fit writes (the schema bounds the others): a threshold below every
    calibration score, which would flag every normal row."""
    where = f"{str(path)!r}: field"
    calibration, threshold = state["calibration_scores_"], state["threshold_"]
    if threshold is not None and calibration and threshold < min(calibration):
        raise ValueError(
            f"{where} threshold_: {threshold!r} is below every calibration score (the lowest is "
            f"{min(calibration)!r}), so every normal row would be flagged; no fit writes that."
        )


def check_finite_weights(vae, path) -> None:
    """Refuse a model whose weights hold NaN or inf: it would score every row NaN."""
    import numpy as np
    from keras import ops

    for weight in vae.weights:
        values = np.asarray(ops.convert_to_numpy(weight))
        if values.dtype.kind == "f" and not np.isfinite(values.astype(np.float64)).all():
            raise ValueError(f"{str(path)!r}: weight {weight.path!r} holds NaN or inf; this model cannot score.")


def _time_step_to_json(step):
    """A series' time step for ``detector.json``: a number as is, a ``pandas.Timedelta`` as an ISO 8601 duration."""
    import pandas as pd

    if step is None:
        return None
    if isinstance(step, pd.Timedelta):
        return step.isoformat()
    return float(step)


def _time_step_from_json(value, path):
    import pandas as pd

    if value is None:
        return None
    if not isinstance(value, str):
        step = value
    else:
        try:
            step = pd.Timedelta(value)
        except ValueError:
            raise ValueError(f"{str(path)!r}: field time_step_: {value!r} is not an ISO 8601 duration.") from None
    positive = step > pd.Timedelta(0) if isinstance(step, pd.Timedelta) else math.isfinite(step) and step > 0
    if not positive:
        raise ValueError(f"{str(path)!r}: field time_step_: {value!r} is not a positive step; a series moves forward.")
    return step


def _is_plain(value) -> bool:
    return value is None or isinstance(value, int)
