"""MLflow "models from code" entry point: MLflow runs this file to build the model, so nothing is pickled."""

from mlflow.models import set_model

from pipelines.pyfunc_model import AnomalyVAEModel

set_model(AnomalyVAEModel())
