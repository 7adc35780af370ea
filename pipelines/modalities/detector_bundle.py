"""The folder of a model that is one detector: ``<modality>_bundle.json`` beside ``detector/``.

The image and series bundles are both this layout (the table bundle adds its schema and preprocessing); the JSON
document names the modality and the format, and loading checks it strictly before reading the detector folder with
:func:`~anomaly_vae.persistence.model_files.load_detector`'s own checks.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def save_detector_bundle(
    detector, folder: str | os.PathLike, document: str, modality: str, version: int, replace: bool = True
) -> Path:
    """Write ``document`` (format ``version``, ``modality``) and ``detector/`` into ``folder`` atomically."""
    from anomaly_vae import __version__
    from anomaly_vae.persistence.atomic import write_folder_atomically
    from anomaly_vae.persistence.model_files import save_detector

    meta = {"format": version, "anomaly_vae_version": __version__, "modality": modality}

    def write(tmp: Path) -> None:
        save_detector(detector, tmp / "detector")
        (tmp / document).write_text(json.dumps(meta, indent=1))

    return write_folder_atomically(folder, write, replace=replace)


def load_detector_bundle(
    folder: str | os.PathLike, document: str, modality: str, version: int, detector_class, noun: str
):
    """The detector of a folder written by :func:`save_detector_bundle`, refused unless the document matches and
    the detector is a ``detector_class`` (``noun`` names the kind in messages: "image", "series")."""
    from anomaly_vae.persistence.documents import read_document, strict_object
    from anomaly_vae.persistence.model_files import load_detector

    folder = Path(folder)
    schema = strict_object(
        {"format": {"const": version}, "anomaly_vae_version": {"type": "string"}, "modality": {"const": modality}}
    )
    read_document(folder / document, schema, f"{noun} bundle")
    detector = load_detector(folder / "detector")
    if not isinstance(detector, detector_class):
        article = "an" if noun[0] in "aeiou" else "a"
        raise ValueError(
            f"{str(folder / 'detector')!r} holds a {type(detector).__name__}, not {article} {noun} detector."
        )
    return detector
