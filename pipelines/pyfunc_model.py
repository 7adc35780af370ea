"""The MLflow pyfunc model: one ``PythonModel`` around a saved ``ModelBundle``, ``ImageBundle`` or ``SeriesBundle``."""

from __future__ import annotations

import pandas as pd
from mlflow.pyfunc import PythonModel


class AnomalyVAEModel(PythonModel):
    """``predict(DataFrame)`` returns ``anomaly_score``, ``p_value``, ``is_anomaly`` and (tables) ``top_features`` per row;
    an image model takes a column ``image`` of PNG/JPEG bytes (:mod:`pipelines.modalities.images.bundle`); a series model takes the
    series, one row per time point (:mod:`pipelines.modalities.series.bundle`)."""

    def load_context(self, context) -> None:
        from pipelines.modalities import load_bundle

        self.bundle = load_bundle(context.artifacts["bundle"])

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        """The scores of ``model_input``; input the model cannot score (no rows, a wrong type, a non-finite number,
        a missing column) raises ``MlflowException(INVALID_PARAMETER_VALUE)`` with the reason, naming the column
        or row: the model server answers HTTP 400 with that message and no stack trace."""
        from mlflow.exceptions import MlflowException
        from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

        try:
            if not isinstance(model_input, pd.DataFrame):
                model_input = pd.DataFrame(model_input)
            if len(model_input) == 0:
                raise ValueError("the request holds no rows to score.")
            return self.bundle.score(model_input)
        except (ValueError, TypeError, KeyError) as err:
            reason = str(err) if isinstance(err, ValueError) else f"{type(err).__name__}: {err}"
            raise MlflowException(
                f"anomaly-vae cannot score this input: {reason}", error_code=INVALID_PARAMETER_VALUE
            ) from None
