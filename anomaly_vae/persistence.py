"""Saving and loading a ``VAE`` in the ``.keras`` format: atomically, and in Keras safe mode."""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path

import keras


def compile_vae(vae, learning_rate: float = 1e-3, clipnorm: float = 10.0):
    """Compile ``vae`` with Adam and gradient-norm clipping (the training recipe of the detector)."""
    vae.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate, global_clipnorm=clipnorm),
        jit_compile="auto",
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
