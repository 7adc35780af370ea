"""How a reviewer tells runs apart in the MLflow UI: the experiment's kind, each run's name, tags and link.

The pipelines mark the experiments they log to as model-training experiments (MLflow's ``mlflow.experimentKind``
tag), once, leaving a kind a person chose as it is. MLflow 3.17's UI does not read that tag yet: it opens every
experiment on its GenAI overview unless the page says ``workflowType=machine_learning``, so the link the commands
print (:func:`review_link`) carries it. Runs are named ``<command> · <modality> · <data file>`` and carry the same as
tags (``anomaly_vae.command``, ``anomaly_vae.modality``, ``anomaly_vae.data``), so the runs list can be read,
sorted and filtered by them; a run that scores a logged model links to the fit run that made it."""

from __future__ import annotations

import time
from pathlib import Path

EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING = "custom_model_development"
"""The experiment kind MLflow calls *Model training* (as against GenAI development)."""

TAG_PREFIX = "anomaly_vae."
PARENT_RUN_TAG = "mlflow.parentRunId"
DESCRIPTION_TAG = "mlflow.note.content"
"""The tag MLflow's run page shows (and edits) as the run's description."""


def use_experiment(name: str):
    """Make ``name`` the active experiment, creating it as a model-training experiment; an existing one
    without a kind is marked as one (a kind chosen in the UI is kept). Returns the experiment."""
    import mlflow

    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        try:
            client.create_experiment(name, tags={EXPERIMENT_KIND_TAG: MODEL_TRAINING})
        except mlflow.exceptions.MlflowException:  # another process created it meanwhile
            pass
        experiment = client.get_experiment_by_name(name)
    if experiment is None:
        raise mlflow.exceptions.MlflowException(f"experiment {name!r} could not be created.")
    if EXPERIMENT_KIND_TAG not in experiment.tags:
        client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, MODEL_TRAINING)
    return mlflow.set_experiment(experiment_id=experiment.experiment_id)


def data_name(data: str | None) -> str:
    """The data's file or folder name, as the runs list shows it."""
    return Path(str(data)).name or str(data) if data else "-"


def run_title(command: str, modality: str, data: str | None) -> str:
    """``fit · table · transactions_train.csv``: a run's default name."""
    return f"{command} · {modality} · {data_name(data)}"


def run_tags(command: str, modality: str, data: str | None, **extra) -> dict[str, str]:
    """The run's identity as ``anomaly_vae.*`` tags, plus ``extra`` (``None`` values left out; a name with a dot,
    such as MLflow's ``mlflow.parentRunId``, is a full tag name and kept as it is)."""
    tags = {"command": command, "modality": modality, "data": data_name(data)}
    tags.update({k: str(v) for k, v in extra.items() if v is not None})
    return {k if "." in k else TAG_PREFIX + k: v for k, v in tags.items()}


def start_run(command: str, modality: str, data: str | None, run_name: str | None = None, **extra):
    """Start a run named ``run_name`` (default :func:`run_title`) with :func:`run_tags`."""
    import mlflow

    return mlflow.start_run(
        run_name=run_name or run_title(command, modality, data), tags=run_tags(command, modality, data, **extra)
    )


UI_DEFAULT = "http://127.0.0.1:5000"
"""Where ``mlflow ui`` serves a local store unless told otherwise."""


def review_url(run_id: str) -> str:
    """Where ``run_id`` opens in the MLflow UI on its *Model training* pages: MLflow 3.17's UI opens every experiment
    on the GenAI overview unless the link (or the switch at the top left) says ``workflowType=machine_learning``; the
    experiment's kind tag alone does not change that. A local store is served by ``mlflow ui`` at :data:`UI_DEFAULT`."""
    import mlflow

    uri = mlflow.get_tracking_uri()
    experiment_id = mlflow.MlflowClient().get_run(run_id).info.experiment_id
    base = uri.rstrip("/") if uri.startswith(("http://", "https://")) else UI_DEFAULT
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}?workflowType=machine_learning"


def review_link(run_id: str) -> str:
    """:func:`review_url`, after the command that serves a local store."""
    import mlflow

    uri, url = mlflow.get_tracking_uri(), review_url(run_id)
    return url if uri.startswith(("http://", "https://")) else f"`mlflow ui --backend-store-uri {uri}`, then {url}"


def model_folder_name(settings_run_name: str | None, data: str | None, run_id: str | None) -> str:
    """The local model folder of a fit: ``--run-name`` when given, else the data's stem and the run id's first
    eight characters (``transactions_train-3f2a9c1d``), or an ``offline-`` time stamp without a run."""
    if settings_run_name:
        return settings_run_name
    stem = Path(str(data)).stem if data else "model"
    if run_id:
        return f"{stem}-{run_id[:8]}"
    return time.strftime(f"{stem}-offline-%Y%m%d-%H%M%S")
