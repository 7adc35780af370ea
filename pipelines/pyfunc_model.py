"""The MLflow pyfunc model: one ``PythonModel`` around a saved ``ModelBundle``, ``ImageBundle`` or ``SeriesBundle``."""

from __future__ import annotations

import mlflow.pyfunc
import pandas as pd


class AnomalyVAEModel(mlflow.pyfunc.PythonModel):
    """``predict(DataFrame)`` returns ``anomaly_score``, ``p_value``, ``is_anomaly`` and (tables) ``top_features`` per row;
    an image model takes a column ``image`` of PNG/JPEG bytes (:mod:`pipelines.image_bundle`); a series model takes the
    series, one row per time point (:mod:`pipelines.series_bundle`)."""

    def load_context(self, context) -> None:
        from pipelines.bundle import load_bundle

        self.bundle = load_bundle(context.artifacts["bundle"])

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        if not isinstance(model_input, pd.DataFrame):
            model_input = pd.DataFrame(model_input)
        return self.bundle.score(model_input)
