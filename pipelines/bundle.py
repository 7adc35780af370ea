"""``ModelBundle``: schema + preprocessing + detector, saved as one folder and scored as one unit.

The fit pipeline saves it, the MLflow pyfunc model wraps it, and the score
pipeline and served model both call :meth:`ModelBundle.score`, so their scores agree.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.schema import Schema

BUNDLE_FORMAT = 1
TOP_FEATURES = 3


@dataclass
class ModelBundle:
    schema: Schema
    preprocessor: object  # fitted sklearn ColumnTransformer
    detector: object  # fitted anomaly_vae.VAEAnomalyDetector

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Conform ``frame`` to the schema and run the fitted preprocessing."""
        return self.preprocessor.transform(self.schema.conform(frame))

    def input_feature_scores(self, Xt: np.ndarray) -> pd.DataFrame:
        """Per-feature scores of preprocessed rows ``Xt``, summed back onto the input columns
        (a one-hot group and a missing-value flag count towards their column)."""
        from pipelines.preprocessing import source_columns

        features = self.detector.feature_scores(Xt)
        return features.T.groupby(source_columns(self.preprocessor, self.schema), sort=False).sum().T

    def score(self, frame: pd.DataFrame, top: int = TOP_FEATURES) -> pd.DataFrame:
        """``anomaly_score``, ``is_anomaly`` and the ``top`` input columns behind each row's score."""
        if len(frame) == 0:
            raise ValueError("Nothing to score: the input has no rows.")
        Xt = self.transform(frame)
        scores = self.detector.anomaly_score(Xt)
        per_input = self.input_feature_scores(Xt)
        order = np.argsort(-per_input.to_numpy(), axis=1)[:, :top]
        names = np.asarray(per_input.columns)[order]
        return pd.DataFrame(
            {
                "anomaly_score": scores,
                "is_anomaly": scores > self.detector.threshold_,
                "top_features": [", ".join(row) for row in names],
            },
            index=frame.index,
        )

    def signature(self, example: pd.DataFrame):
        """MLflow model signature. Numeric inputs are typed ``Any`` so ints, floats and NaN all pass
        MLflow's strict casting rules; :meth:`Schema.conform` then checks them with clear messages."""
        from mlflow.models import ModelSignature, infer_signature
        from mlflow.types.schema import AnyType, ColSpec, DataType
        from mlflow.types.schema import Schema as MlflowSchema

        inputs = [ColSpec(AnyType(), c) for c in self.schema.numeric]
        inputs += [ColSpec(DataType.string, c, required=False) for c in self.schema.categorical]
        outputs = infer_signature(example, self.score(example)).outputs
        return ModelSignature(inputs=MlflowSchema(inputs), outputs=outputs)

    def unknown_categories(self, frame: pd.DataFrame) -> dict[str, int]:
        from pipelines.preprocessing import unknown_categories

        return unknown_categories(self.preprocessor, self.schema.conform(frame), self.schema)

    def save(self, folder: str | os.PathLike) -> Path:
        """Write the bundle atomically: ``bundle.json``, ``preprocessor.skops`` and ``detector/``."""
        import skops.io as sio

        from anomaly_vae import __version__
        from anomaly_vae.persistence import save_detector, write_folder_atomically

        meta = {"format": BUNDLE_FORMAT, "anomaly_vae_version": __version__, "schema": self.schema.to_dict()}

        def write(tmp: Path) -> None:
            sio.dump(self.preprocessor, tmp / "preprocessor.skops")
            save_detector(self.detector, tmp / "detector")
            (tmp / "bundle.json").write_text(json.dumps(meta, indent=1))

        return write_folder_atomically(folder, write)

    @classmethod
    def load(cls, folder: str | os.PathLike) -> ModelBundle:
        """Load a bundle written by :meth:`save`; refuses unknown formats and untrusted types."""
        from anomaly_vae.persistence import load_detector, load_skops

        folder = Path(folder)
        meta_path = folder / "bundle.json"
        if not meta_path.is_file():
            raise ValueError(f"{str(folder)!r} is not an anomaly-vae model bundle (no bundle.json).")
        try:
            meta = json.loads(meta_path.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"{str(meta_path)!r} is not valid JSON: {err}") from err
        if not isinstance(meta, dict) or meta.get("format") != BUNDLE_FORMAT:
            raise ValueError(
                f"{str(folder)!r} is bundle format {meta.get('format') if isinstance(meta, dict) else None!r}; "
                f"this anomaly-vae reads format {BUNDLE_FORMAT}."
            )
        return cls(
            schema=Schema.from_dict(meta["schema"]),
            preprocessor=load_skops(folder / "preprocessor.skops"),
            detector=load_detector(folder / "detector"),
        )
