"""``ModelBundle``: schema + preprocessing + detector, saved as one folder and scored as one unit.

The fit pipeline saves it, the MLflow pyfunc model wraps it, and the score
pipeline and served model both call :meth:`ModelBundle.score`, so their scores agree.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from anomaly_vae.choices import SAMPLE_CODES
from anomaly_vae.generation.column_support import ColumnSupport
from pipelines.modalities.table.schema import Schema

BUNDLE_FORMAT = 3
"""Version of the bundle layout (2: ``bundle.json`` records the types in ``preprocessor.skops``; 3: and the numeric
columns' support, which :meth:`ModelBundle.sample` keeps samples in)."""

READABLE_BUNDLE_FORMATS = (2, BUNDLE_FORMAT)
DOCUMENT = "bundle.json"
"""The file that marks a folder as a table model."""
TOP_FEATURES = 3


@dataclass
class ModelBundle:
    DOCUMENT = DOCUMENT  # the file that marks a folder as this bundle's (read by pipelines.modalities)

    schema: Schema
    preprocessor: Any  # fitted sklearn ColumnTransformer
    detector: Any  # fitted anomaly_vae.VAEAnomalyDetector
    support: ColumnSupport | None = None  # the numeric columns' decimals and range in training (None: not kept)

    @classmethod
    def for_training(cls, schema: Schema, preprocessor, detector, train: pd.DataFrame) -> ModelBundle:
        """The bundle of a detector fitted on the conformed training frame ``train``, keeping its numeric
        columns' support (:mod:`anomaly_vae.generation.column_support`) for :meth:`sample`."""
        return cls(schema, preprocessor, detector, ColumnSupport.fit(train[schema.numeric].to_numpy(dtype=np.float64)))

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Conform ``frame`` to the schema and run the fitted preprocessing."""
        return self.preprocessor.transform(self.schema.conform(frame))

    def input_feature_scores(self, Xt: np.ndarray) -> pd.DataFrame:
        """Per-feature scores of preprocessed rows ``Xt``, summed back onto the input columns
        (a one-hot group and a missing-value flag count towards their column)."""
        return self._per_input(self.detector.feature_scores(Xt))

    def _per_input(self, features: pd.DataFrame) -> pd.DataFrame:
        from pipelines.modalities.table.preprocessing import source_columns

        return features.T.groupby(source_columns(self.preprocessor, self.schema), sort=False).sum().T

    def score(self, frame: pd.DataFrame, top: int = TOP_FEATURES, p_cutoff: float | None = None) -> pd.DataFrame:
        """``anomaly_score``, ``p_value``, ``is_anomaly`` and the ``top`` input columns behind each row's score,
        from one pass of the network. ``is_anomaly`` is ``anomaly_score > threshold``, or with ``p_cutoff``
        (a Benjamini-Hochberg cutoff over the whole file) ``p_value <= p_cutoff``."""
        if len(frame) == 0:
            raise ValueError("Nothing to score: the input has no rows.")
        from pipelines.score_columns import score_columns

        scores, features = self.detector.score_with_features(self.transform(frame))
        per_input = self._per_input(features)
        order = np.argsort(-per_input.to_numpy(), axis=1)[:, :top]
        names = np.asarray(per_input.columns)[order]
        return pd.DataFrame(
            {
                **score_columns(self.detector, scores, p_cutoff),
                "top_features": [", ".join(row) for row in names],
            },
            index=frame.index,
        )

    def sample(
        self, n_samples: int, random_state=None, noise: bool = True, codes: str = SAMPLE_CODES[0]
    ) -> pd.DataFrame:
        """``n_samples`` new rows with the schema's columns: numeric columns in their own units (float64, as the
        model takes them; rounded to the decimals of their training values and clipped to their range, so a count
        stays whole), each categorical column one category drawn by the categorical likelihood (a drawn
        "missing" category is a missing value); the missing-value indicators the preprocessor adds are dropped.
        ``noise=False``: the decoder's means (each categorical column its most likely category)."""
        from pipelines.modalities.table.preprocessing import MISSING_CATEGORY, onehot_groups

        drawn = np.asarray(
            self.detector.sample(n_samples, random_state=random_state, noise=noise, codes=codes), dtype=np.float64
        )
        columns: dict[str, Any] = {}
        if self.schema.numeric:
            start = self.preprocessor.output_indices_["num"].start
            numeric = drawn[:, start : start + len(self.schema.numeric)]
            if self.support is not None:
                numeric = self.support.apply(numeric)
            for j, col in enumerate(self.schema.numeric):
                columns[col] = numeric[:, j]
        if self.schema.categorical:
            encoder = self.preprocessor.named_transformers_["cat"].named_steps["onehot"]
            groups = onehot_groups(self.preprocessor, self.schema)
            for col, group, categories in zip(self.schema.categorical, groups, encoder.categories_):
                values = np.asarray(categories, dtype=object)[np.argmax(drawn[:, group], axis=1)]
                columns[col] = np.where(values == MISSING_CATEGORY, None, values)
        return pd.DataFrame(columns)[self.schema.columns]

    def signature(self, example: pd.DataFrame):
        """MLflow model signature. Numeric inputs are typed ``Any`` so ints, floats and NaN all pass
        MLflow's strict casting rules; :meth:`Schema.conform` then checks them with clear messages."""
        from mlflow.models import ModelSignature, infer_signature
        from mlflow.types.schema import AnyType, ColSpec, DataType
        from mlflow.types.schema import Schema as MlflowSchema

        inputs: list = [ColSpec(AnyType(), c) for c in self.schema.numeric]
        inputs += [ColSpec(DataType.string, c, required=False) for c in self.schema.categorical]
        outputs = infer_signature(example, self.score(example)).outputs
        return ModelSignature(inputs=MlflowSchema(inputs), outputs=outputs)

    def unknown_categories(self, frame: pd.DataFrame) -> dict[str, int]:
        from pipelines.modalities.table.preprocessing import unknown_categories

        return unknown_categories(self.preprocessor, self.schema.conform(frame), self.schema)

    def save(self, folder: str | os.PathLike, replace: bool = True) -> Path:
        """Write the bundle atomically: ``bundle.json``, ``preprocessor.skops`` and ``detector/``.
        ``replace=False`` never replaces an existing folder (``FolderExistsError``)."""
        from anomaly_vae import __version__
        from anomaly_vae.persistence import trusted_skops
        from anomaly_vae.persistence.atomic import write_folder_atomically
        from anomaly_vae.persistence.model_files import save_detector

        meta = {"format": BUNDLE_FORMAT, "anomaly_vae_version": __version__, "schema": self.schema.to_dict()}
        if self.support is not None:
            meta["numeric_support"] = self.support.to_dict()

        def write(tmp: Path) -> None:
            meta["preprocessor_types"] = trusted_skops.dump(self.preprocessor, tmp / "preprocessor.skops")
            save_detector(self.detector, tmp / "detector")
            (tmp / DOCUMENT).write_text(json.dumps(meta, indent=1))

        return write_folder_atomically(folder, write, replace=replace)

    @classmethod
    def load(cls, folder: str | os.PathLike) -> ModelBundle:
        """Load a bundle written by :meth:`save`; refuses unknown formats, damaged metadata and untrusted types."""
        from anomaly_vae.persistence import trusted_skops
        from anomaly_vae.persistence.documents import read_document
        from anomaly_vae.persistence.model_files import load_detector

        folder = Path(folder)
        meta_path = folder / DOCUMENT
        if not meta_path.is_file():
            raise ValueError(f"{str(folder)!r} is not an anomaly-vae model bundle (no bundle.json).")
        meta = read_document(meta_path, bundle_document_schema(), "bundle")
        schema = Schema.from_dict(meta["schema"])
        overlap = set(schema.numeric) & set(schema.categorical)
        if overlap or len(set(schema.columns)) != len(schema.columns):
            raise ValueError(f"{str(meta_path)!r}: field schema: a column is listed twice ({sorted(overlap)}).")
        bundle = cls(
            schema=schema,
            preprocessor=trusted_skops.load(folder / "preprocessor.skops", meta["preprocessor_types"]),
            detector=load_detector(folder / "detector"),
        )
        if "numeric_support" in meta:
            bundle.support = ColumnSupport.from_dict(
                meta["numeric_support"], len(schema.numeric), f"{str(meta_path)!r}: field numeric_support"
            )
        expected = getattr(bundle.preprocessor, "feature_names_in_", None)
        if expected is None or [str(c) for c in expected] != schema.columns:
            raise ValueError(
                f"{str(folder / 'preprocessor.skops')!r} was not fitted on the columns "
                f"{schema.columns} that {str(meta_path)!r} lists."
            )
        n_out = len(bundle.preprocessor.get_feature_names_out())
        if n_out != bundle.detector.n_features_in_:
            raise ValueError(
                f"{str(folder / 'preprocessor.skops')!r} makes {n_out} features but the detector "
                f"in {str(folder / 'detector')!r} takes {bundle.detector.n_features_in_}."
            )
        return bundle


def bundle_document_schema() -> dict:
    """JSON Schema of ``bundle.json``."""
    from anomaly_vae.persistence.documents import strict_object, strings
    from anomaly_vae.persistence.model_files import column_support_schema

    document = strict_object(
        {
            "format": {"enum": list(READABLE_BUNDLE_FORMATS)},
            "anomaly_vae_version": {"type": "string"},
            "schema": strict_object(
                {
                    "numeric": strings(),
                    "categorical": strings(),
                    "label": {"type": ["string", "null"]},
                    "dropped": strings(),
                }
            ),
            "preprocessor_types": strings(),
            "numeric_support": column_support_schema(),
        }
    )
    document["required"].remove("numeric_support")  # format 2 lacks it
    return document
