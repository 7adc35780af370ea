"""Saving and loading a ``VAE`` in the ``.keras`` format: atomically, and in Keras safe mode."""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path

import keras


def compile_vae(vae, learning_rate: float = 1e-3, clipnorm: float = 10.0, steps_per_execution: int = 1):
    """Compile ``vae`` with Adam and gradient-norm clipping (the training recipe of the detector).

    ``steps_per_execution`` runs several training steps per compiled call on JAX and
    TensorFlow (it cut the per-step overhead by a third here); PyTorch supports only 1.
    """
    if keras.backend.backend() == "torch":
        steps_per_execution = 1
    vae.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate, global_clipnorm=clipnorm),
        jit_compile="auto",
        steps_per_execution=max(1, int(steps_per_execution)),
    )
    return vae


def save_vae(vae, path: str | os.PathLike) -> Path:
    """Write ``vae`` to ``path`` (``.keras``) atomically: a temporary file, then a rename."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"A VAE is saved as a .keras file, got {str(path)!r}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".keras", dir=path.parent, prefix=f".{path.stem}-")
    os.close(fd)
    try:
        vae.save(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_vae(path: str | os.PathLike):
    """Load a ``VAE`` saved by :func:`save_vae`, refusing files that carry arbitrary code.

    The model is loaded with ``compile=False`` (a saved optimizer or ``jit_compile``
    setting may not fit the current backend); call :func:`compile_vae` to train further.
    """
    from anomaly_vae.vae import VAE

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No model file at {str(path)!r}.")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{str(path)!r} is not a readable .keras model file (a .keras file is a zip archive).")
    try:
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
        raise ValueError(
            f"{str(path)!r} holds a {type(model).__name__}, not an anomaly_vae VAE."
        )
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


DETECTOR_FORMAT = 4
"""Version of the on-disk detector layout written by :func:`save_detector` (2: the VAE's encoder and
decoder are lists of layers, no longer ``keras.Sequential``; 3: every weight has a leading ensemble-member
axis, so older weights do not fit; 4: the VAE has a ``kl_scale`` weight, and one-hot columns may be
left unscaled by ``categorical_groups``)."""

_TRUSTED_MODULES = ("sklearn.", "numpy", "builtins", "scipy.")


def save_detector(detector, folder: str | os.PathLike) -> Path:
    """Save a fitted ``VAEAnomalyDetector`` to ``folder`` without pickle, atomically.

    The folder holds ``vae.keras`` (Keras format), ``scaler.skops`` (the fitted
    scikit-learn transform, in skops' safe format) and ``detector.json``
    (parameters, threshold, validation scores and training history).
    """
    import json

    import skops.io as sio
    from sklearn.utils.validation import check_is_fitted

    import anomaly_vae

    check_is_fitted(detector)
    params = {k: v for k, v in detector.get_params().items() if not (k == "random_state" and not _is_plain(v))}
    if isinstance(params.get("hidden_units"), tuple):
        params["hidden_units"] = list(params["hidden_units"])
    state = {
        "format": DETECTOR_FORMAT,
        "class": "VAEAnomalyDetector",
        "anomaly_vae_version": anomaly_vae.__version__,
        "params": params,
        "threshold_": float(detector.threshold_),
        "n_features_in_": int(detector.n_features_in_),
        "feature_names_in_": [str(c) for c in getattr(detector, "feature_names_in_", [])] or None,
        "n_epochs_": int(detector.n_epochs_),
        "history_": detector.history_,
        "validation_scores_": [float(s) for s in detector.validation_scores_],
    }

    def write(tmp: Path) -> None:
        save_vae(detector.vae_, tmp / "vae.keras")
        sio.dump(detector.scaler_, tmp / "scaler.skops")
        (tmp / "detector.json").write_text(json.dumps(state, indent=1))

    return write_folder_atomically(folder, write)


def load_detector(folder: str | os.PathLike):
    """Load a detector saved by :func:`save_detector`; refuses foreign or unknown-version folders."""
    import json

    import numpy as np

    from anomaly_vae.detector import VAEAnomalyDetector

    folder = Path(folder)
    meta_path = folder / "detector.json"
    if not meta_path.is_file():
        raise ValueError(f"{str(folder)!r} is not a saved anomaly-vae detector (no detector.json).")
    try:
        state = json.loads(meta_path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{str(meta_path)!r} is not valid JSON: {err}") from err
    if not isinstance(state, dict) or state.get("class") != "VAEAnomalyDetector":
        raise ValueError(f"{str(meta_path)!r} does not describe a VAEAnomalyDetector.")
    if state.get("format") != DETECTOR_FORMAT:
        raise ValueError(
            f"{str(folder)!r} was written in detector format {state.get('format')!r} "
            f"(anomaly-vae {state.get('anomaly_vae_version')}); this version reads format {DETECTOR_FORMAT}."
        )
    detector = VAEAnomalyDetector(**state["params"])
    detector.scaler_ = load_skops(folder / "scaler.skops")
    detector.vae_ = load_vae(folder / "vae.keras")
    detector.threshold_ = float(state["threshold_"])
    detector.offset_ = -detector.threshold_
    detector.n_features_in_ = int(state["n_features_in_"])
    if state.get("feature_names_in_"):
        detector.feature_names_in_ = np.asarray(state["feature_names_in_"], dtype=object)
    detector.n_epochs_ = int(state["n_epochs_"])
    detector.history_ = state["history_"]
    detector.validation_scores_ = np.asarray(state["validation_scores_"], dtype=np.float64)
    detector._scorers = {}
    return detector


def load_skops(path: str | os.PathLike):
    """Load a scikit-learn object saved with ``skops.io.dump``, trusting only scikit-learn, NumPy and SciPy types."""
    import skops.io as sio

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No file at {str(path)!r}.")
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as err:
        raise ValueError(f"{str(path)!r} is not a readable skops file: {err}") from err
    refused = [t for t in untrusted if not t.startswith(_TRUSTED_MODULES)]
    if refused:
        raise ValueError(f"Refusing to load {str(path)!r}: it holds types outside scikit-learn and NumPy: {refused}.")
    return sio.load(path, trusted=untrusted)


def write_folder_atomically(folder: str | os.PathLike, write) -> Path:
    """Call ``write(tmp_folder)``, then move the folder into place in one rename.

    A failure leaves no partial folder; an existing folder is replaced only once
    the new one is complete.
    """
    import shutil

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}-"))
    try:
        write(tmp)
        if folder.exists():
            old = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}-old-"))
            os.replace(folder, old / folder.name)
            os.replace(tmp, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def _is_plain(value) -> bool:
    return value is None or isinstance(value, int)
