"""Saving and loading a fitted :class:`~anomaly_vae.detectors.imputer.VAEImputer` without pickle, atomically.

The folder holds ``imputer.json`` (the imputer's parameters, its columns and the fixed importance draws that make
its imputations reproducible) and ``detector/``, the VAE that marginalises missing entries, saved by
:func:`~anomaly_vae.persistence.model_files.save_detector`. Loading checks both as strictly as a detector folder: one line
naming the file and the field, and nothing in the folder is run.
"""

from __future__ import annotations

import os
from pathlib import Path

IMPUTER_FORMAT = 1
"""Version of the imputer folder's layout."""

DOCUMENT = "imputer.json"


def imputer_document_schema() -> dict:
    """JSON Schema of ``imputer.json``; the parameters are the class's own."""
    from anomaly_vae.detectors.imputer import VAEImputer
    from anomaly_vae.persistence.documents import numbers, strict_object, strings

    return strict_object(
        {
            "format": {"const": IMPUTER_FORMAT},
            "class": {"const": "VAEImputer"},
            "anomaly_vae_version": {"type": "string"},
            "params": {
                "type": "object",
                "properties": {name: {} for name in VAEImputer().get_params()},
                "additionalProperties": False,
            },
            "n_features_in_": {"type": "integer", "minimum": 1},
            "feature_names_in_": {"anyOf": [{"type": "null"}, strings()]},
            "draws_": {"type": "array", "minItems": 1, "items": numbers(minItems=1)},
        }
    )


def save_imputer(imputer, folder: str | os.PathLike, replace: bool = True) -> Path:
    """Write a fitted ``VAEImputer`` to ``folder`` (``imputer.json`` and ``detector/``), atomically.
    ``replace=False`` never replaces an existing folder."""
    import json

    from sklearn.utils.validation import check_is_fitted

    import anomaly_vae
    from anomaly_vae.detectors.imputer import VAEImputer
    from anomaly_vae.persistence.atomic import write_folder_atomically
    from anomaly_vae.persistence.model_files import save_detector

    if type(imputer) is not VAEImputer:
        raise TypeError(f"save_imputer saves a VAEImputer, not {type(imputer).__name__}.")
    check_is_fitted(imputer)
    params = imputer.get_params()
    if not (params["random_state"] is None or isinstance(params["random_state"], int)):
        params["random_state"] = None  # a RandomState instance is not data; the draws it made are saved
    if isinstance(params["hidden_units"], tuple):
        params["hidden_units"] = list(params["hidden_units"])
    names = getattr(imputer, "feature_names_in_", None)
    state = {
        "format": IMPUTER_FORMAT,
        "class": "VAEImputer",
        "anomaly_vae_version": anomaly_vae.__version__,
        "params": params,
        "n_features_in_": int(imputer.n_features_in_),
        "feature_names_in_": None if names is None else [str(c) for c in names],
        "draws_": imputer.draws_.tolist(),
    }

    def write(tmp: Path) -> None:
        save_detector(imputer.detector_, tmp / "detector")
        (tmp / DOCUMENT).write_text(json.dumps(state, allow_nan=False))

    return write_folder_atomically(folder, write, replace=replace)


def load_imputer(folder: str | os.PathLike):
    """Load an imputer saved by :func:`save_imputer`. Refuses, naming the file and field: a folder that is not an
    imputer, another format, invalid parameters, draws that are not finite or do not fit the VAE's latent size, and
    a detector that does not marginalise missing entries or takes other columns, or other column names (its own checks as
    :func:`~anomaly_vae.load_detector`)."""
    import numpy as np
    from sklearn.utils._param_validation import InvalidParameterError

    from anomaly_vae.detectors.imputer import VAEImputer
    from anomaly_vae.persistence.documents import read_document
    from anomaly_vae.persistence.model_files import load_detector

    folder = Path(folder)
    path = folder / DOCUMENT
    if not path.is_file():
        raise ValueError(f"{str(folder)!r} is not a saved VAEImputer (no {DOCUMENT}).")
    state = read_document(path, imputer_document_schema(), "imputer")
    imputer = VAEImputer(**state["params"])
    try:
        imputer._validate_params()
    except InvalidParameterError as err:
        raise ValueError(f"{str(path)!r}: field params: {err}") from None
    if imputer.hidden_units is not None:
        imputer.hidden_units = tuple(imputer.hidden_units)
    detector = load_detector(folder / "detector")
    names = state["feature_names_in_"]
    if detector.missing != "marginalise" or detector.n_features_in_ != state["n_features_in_"]:
        raise ValueError(
            f"{str(folder / 'detector')!r} is not this imputer's VAE (it must marginalise missing "
            f"entries and take {state['n_features_in_']} columns)."
        )
    if names is not None and len(names) != state["n_features_in_"]:
        raise ValueError(
            f"{str(path)!r}: field feature_names_in_: {len(names)} names for {state['n_features_in_']} features."
        )
    fitted_on = getattr(detector, "feature_names_in_", None)  # None in folders written before it kept them
    if fitted_on is not None and (names is None or list(names) != list(fitted_on)):
        raise ValueError(
            f"{str(path)!r}: field feature_names_in_: {names} are not the columns its VAE was fitted on, "
            f"in order ({None if fitted_on is None else list(fitted_on)})."
        )
    try:
        draws = np.asarray(state["draws_"], dtype=np.float64)
    except ValueError:
        raise ValueError(f"{str(path)!r}: field draws_: rows of unequal length.") from None
    if draws.shape != (imputer.n_draws, detector.vae_.latent_dim) or not np.isfinite(draws).all():
        raise ValueError(
            f"{str(path)!r}: field draws_: needs {imputer.n_draws} finite rows of "
            f"{detector.vae_.latent_dim} (the latent size); got shape {draws.shape}."
        )
    imputer.detector_, imputer.draws_, imputer.n_features_in_ = detector, draws, state["n_features_in_"]
    if names is not None:
        imputer.feature_names_in_ = np.asarray(names, dtype=object)
    return imputer
