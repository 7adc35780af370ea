"""``ImageBundle``: a fitted ``VAEImageDetector`` saved as one folder and scored as one unit, the image twin of
:class:`pipelines.modalities.table.bundle.ModelBundle` (the fit pipeline saves it, the pyfunc model and ``anomaly-vae score``
load it).

The pyfunc's input for images follows MLflow's practice for binary data: a DataFrame with one column,
``image``, holding each image's encoded PNG or JPEG bytes (base64 in a JSON request to the model server,
which MLflow decodes for a ``binary`` column). Output: ``anomaly_score``, ``p_value`` and ``is_anomaly`` per image.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from anomaly_vae.choices import SAMPLE_CODES

IMAGE_BUNDLE_FORMAT = 1
IMAGE_COLUMN = "image"
DOCUMENT = "image_bundle.json"


@dataclass
class ImageBundle:
    DOCUMENT = DOCUMENT  # the file that marks a folder as this bundle's (read by pipelines.modalities)

    detector: Any  # fitted anomaly_vae.VAEImageDetector

    def score_images(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Anomaly scores ``(n,)`` and maps ``(n, height, width)`` of uint8 or [0, 1] images, in one pass."""
        return self.detector.score_with_maps(images)

    def score(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The pyfunc contract: ``frame[IMAGE_COLUMN]`` holds encoded PNG/JPEG bytes, one image per row."""
        from pipelines.modalities.images.files import decode_image

        if IMAGE_COLUMN not in frame.columns:
            raise ValueError(
                f"An image model takes a column {IMAGE_COLUMN!r} of PNG or JPEG bytes; got columns "
                f"{list(frame.columns)}."
            )
        if len(frame) == 0:
            raise ValueError("Nothing to score: the input has no rows.")
        images = []
        for i, data in enumerate(frame[IMAGE_COLUMN]):
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise ValueError(f"Row {i} of column {IMAGE_COLUMN!r} holds {type(data).__name__}, not image bytes.")
            images.append(decode_image(data, f"row {i}"))
        shapes = {im.shape for im in images}
        if len(shapes) > 1:
            raise ValueError(f"The images in one request must have one size; got {sorted(shapes)}.")
        from pipelines.score_columns import score_columns

        scores = self.detector.anomaly_score(np.stack(images))
        return pd.DataFrame(score_columns(self.detector, scores), index=frame.index)

    def sample(self, n_samples: int, random_state=None, noise: bool = True, codes: str = SAMPLE_CODES[0]) -> np.ndarray:
        """``n_samples`` new images as ``uint8`` ``(n, height, width, channels)`` (``noise=False``: the decoder's means)."""
        images = self.detector.sample(n_samples, random_state=random_state, noise=noise, codes=codes)
        return np.round(images * 255).astype(np.uint8)

    def signature(self):
        from mlflow.models import ModelSignature
        from mlflow.types.schema import ColSpec, DataType, Schema

        return ModelSignature(
            inputs=Schema([ColSpec(DataType.binary, IMAGE_COLUMN)]),
            outputs=Schema(
                [
                    ColSpec(DataType.double, "anomaly_score"),
                    ColSpec(DataType.double, "p_value"),
                    ColSpec(DataType.boolean, "is_anomaly"),
                ]
            ),
        )

    @staticmethod
    def input_example(image: np.ndarray) -> pd.DataFrame:
        """One image as the pyfunc takes it: a one-row DataFrame with its PNG bytes in ``image``."""
        import io

        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(buffer, format="PNG")
        return pd.DataFrame({IMAGE_COLUMN: [buffer.getvalue()]})

    def save(self, folder: str | os.PathLike, replace: bool = True) -> Path:
        """Write ``image_bundle.json`` and ``detector/`` atomically."""
        from pipelines.modalities.detector_bundle import save_detector_bundle

        return save_detector_bundle(self.detector, folder, DOCUMENT, "images", IMAGE_BUNDLE_FORMAT, replace=replace)

    @classmethod
    def load(cls, folder: str | os.PathLike) -> ImageBundle:
        from anomaly_vae.detectors.image_detector import VAEImageDetector
        from pipelines.modalities.detector_bundle import load_detector_bundle

        return cls(load_detector_bundle(folder, DOCUMENT, "images", IMAGE_BUNDLE_FORMAT, VAEImageDetector, "image"))
