"""MLflow tracking: the store, run parameters, the per-epoch Keras callback and the pyfunc model."""

from __future__ import annotations

import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import keras
import mlflow

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
PACKAGES = ("anomaly-vae", "keras", "tensorflow", "jax", "torch", "scikit-learn", "mlflow", "numpy", "pandas")


def tracking_uri(flag: str | None = None) -> str:
    """``--tracking-uri``, else ``MLFLOW_TRACKING_URI``, else a SQLite store in the working directory."""
    return flag or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def environment_params() -> dict[str, str]:
    """Backend, device and package versions, logged as run parameters."""
    from anomaly_vae.network.steps import device_description

    params = {
        "keras_backend": keras.backend.backend(),
        "device": device_description(),
        "python": platform.python_version(),
    }
    for name in PACKAGES:
        try:
            params[f"version.{name}"] = version(name)
        except PackageNotFoundError:
            pass
    return params


def pip_requirements() -> list[str]:
    """Pinned requirements of the pyfunc model, given explicitly: MLflow's inference of them imports
    and probes the model, which is slow."""
    names = ["keras", "scikit-learn", "skops", "pandas", "numpy", "mlflow", keras.backend.backend()]
    reqs = []
    for name in dict.fromkeys(names):
        try:
            reqs.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            pass
    return reqs


class MLflowEpochLogger(keras.callbacks.Callback):
    """Logs every epoch's ``loss``, ``reconstruction_loss``, ``kl_loss`` (and ``val_`` twins) to the active run."""

    def __init__(self, run: SafeRun):
        super().__init__()
        self.run = run

    def on_epoch_end(self, epoch, logs=None):
        if logs:
            self.run.call(mlflow.log_metrics, {k: float(v) for k, v in logs.items()}, step=epoch)


def register(model_uri: str, name: str, alias: str | None) -> int:
    """Register ``model_uri`` as a new version of ``name``, optionally pointing ``alias`` at it."""
    mv = mlflow.register_model(model_uri, name)
    if alias:
        mlflow.MlflowClient().set_registered_model_alias(name, alias, mv.version)
    return int(mv.version)


def log_bundle_model(
    run, local_model, signature, input_example, settings, description: str | None = None
) -> tuple[str | None, int | None]:
    """Log the saved bundle at ``local_model`` as the run's one pyfunc model (MLflow's models from code:
    ``pipelines/pyfunc_entry.py``, nothing pickled) and register it if the settings ask, the logged model and the
    version carrying ``description``; its URI and version."""
    info = run.call(
        mlflow.pyfunc.log_model,
        name="model",
        python_model=str(Path(__file__).parents[1] / "pyfunc_entry.py"),
        artifacts={"bundle": str(local_model)},
        signature=signature,
        input_example=input_example,
        pip_requirements=pip_requirements(),
    )
    model_uri = f"runs:/{run.run_id}/model" if info else None
    if info is not None and description and getattr(info, "model_id", None):  # MLflow 3's logged model
        from pipelines.tracking.run_identity import DESCRIPTION_TAG

        run.call(mlflow.set_logged_model_tags, info.model_id, {DESCRIPTION_TAG: description})
    registered = None
    if info and settings.register:
        registered = run.call(register, info.model_uri, settings.register, settings.alias)
        if registered is not None and description:
            run.call(mlflow.MlflowClient().update_model_version, settings.register, str(registered), description)
    return model_uri, registered


def open_store(uri: str, attempts: int = 3) -> None:
    """Open the tracking store once, creating a new SQLite store's tables.

    Two processes that create the same SQLite store at once break each other's schema migration (one
    fails, and can leave the file half-migrated), so for a SQLite URI the creation runs under an
    exclusive ``flock`` on the store's folder; other failures are retried with back-off.
    """
    import contextlib
    import random
    import time

    lock: contextlib.AbstractContextManager = contextlib.nullcontext()
    if uri.startswith("sqlite:///") and len(uri) > len("sqlite:///"):
        path = Path(uri[len("sqlite:///") :].split("?")[0])
        folder = path.resolve().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise TrackingError(f"tracking store {uri!r}: cannot create its folder ({err.strerror}).") from None
        check_sqlite_store(uri, path)
        lock = FolderLock(folder)
    for attempt in range(attempts):
        try:
            with lock:
                mlflow.MlflowClient(uri).search_experiments(max_results=1)
            return
        except Exception:
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1) + random.random())


def check_sqlite_store(uri: str, path: Path) -> None:
    """Refuse, in seconds and in one line, an SQLite store that cannot work: a folder, a file that is not an SQLite
    database, one that cannot be read or written (MLflow itself retries such a store with back-off for minutes)."""
    import sqlite3
    from urllib.request import pathname2url

    if path.is_dir():
        raise TrackingError(
            f"tracking store {uri!r} names a folder; give a database file, such as sqlite:///{path / 'mlflow.db'}."
        )
    if path.is_file() and path.stat().st_size:
        with open(path, "rb") as file:
            header = file.read(16)
        if header != b"SQLite format 3\x00":
            raise TrackingError(f"tracking store {uri!r}: {str(path)!r} is not an SQLite database.")
    try:
        connection = sqlite3.connect(f"file:{pathname2url(str(path))}?mode=rwc", uri=True, timeout=60)
        try:
            connection.execute("BEGIN IMMEDIATE")  # a write lock: fails at once on a read-only file or folder
            connection.rollback()
        finally:
            connection.close()
    except sqlite3.Error as err:
        raise TrackingError(f"tracking store {uri!r} cannot be written: {err}.") from None


class FolderLock:
    """An exclusive ``flock`` on a folder, held inside ``with`` (no lock file is left behind)."""

    def __init__(self, folder):
        self.folder = folder

    def __enter__(self):
        import fcntl

        self.fd = os.open(self.folder, os.O_RDONLY)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)  # closing releases the lock


class TrackingError(RuntimeError):
    """MLflow could not be reached or failed; the message says where the local copy of the work is."""


class SafeRun:
    """Best-effort MLflow calls during a pipeline: the first failure is remembered, not raised.

    Training and the local model save go on when the tracking server is down or
    fails mid-run; the pipeline checks :attr:`error` at the end and exits non-zero.
    """

    def __init__(self):
        self.error: Exception | None = None
        self.run_id: str | None = None

    def call(self, fn, *args, **kwargs):
        if self.error is not None:
            return None
        try:
            return fn(*args, **kwargs)
        except Exception as err:  # any MLflow/HTTP/database failure
            self.error = err
            return None

    def finish(self, status: str = "FINISHED") -> None:
        """End the active run: ``status`` if every call succeeded, else FAILED (never FINISHED after a
        failure, which MLflow's exit hook would otherwise record). Best effort: the store may be down."""
        try:
            mlflow.end_run("FAILED" if self.error is not None else status)
        except Exception as err:
            self.error = self.error or err


def start_fit_run(settings, modality: str, previous: dict | None = None) -> tuple[SafeRun, object | None, str]:
    """Open a fit's MLflow run in ``settings``' store and experiment (named and tagged by
    :mod:`pipelines.tracking.run_identity`), or resume ``previous``'s (a checkpoint's run info). Returns the
    :class:`SafeRun`, the active run (None when tracking failed: the fit goes on and the pipeline exits non-zero at
    the end) and the name of the local model folder (:func:`~pipelines.tracking.run_identity.model_folder_name`)."""
    from pipelines.tracking import run_identity

    fail_fast_http()
    mlflow.set_tracking_uri(tracking_uri(settings.tracking_uri))
    run = SafeRun()
    run.call(open_store, mlflow.get_tracking_uri())
    run.call(run_identity.use_experiment, settings.experiment)
    if previous and previous.get("run_id"):
        active = run.call(mlflow.start_run, run_id=previous["run_id"])
    else:
        active = run.call(run_identity.start_run, "fit", modality, settings.data, settings.run_name)
    run.run_id = active.info.run_id if active else None
    name = (previous or {}).get("run_name") or run_identity.model_folder_name(
        settings.run_name, settings.data, run.run_id
    )
    return run, active, name


def log_metrics_and_plots(run: SafeRun, metrics: dict, figures: dict) -> None:
    """A run's final metrics and its review plots (``plots/<name>``): matplotlib figures, each closed once logged,
    and interactive HTML pages given as text (:mod:`pipelines.review.interactive`)."""
    import matplotlib.pyplot as plt

    if metrics:
        run.call(mlflow.log_metrics, metrics)
    for name, fig in figures.items():
        if isinstance(fig, str):
            run.call(mlflow.log_text, fig, f"plots/{name}")
            continue
        run.call(mlflow.log_figure, fig, f"plots/{name}")
        plt.close(fig)


def log_fit_record(run: SafeRun, detector, modality, settings, metrics: dict) -> str:
    """What ``fit`` resolved (``resolved.*`` parameters) and the model's description (the run's, returned for the
    registered version): :mod:`pipelines.tracking.model_description`. ``modality``: the fit's
    :class:`~pipelines.modalities.contract.Modality`."""
    from pipelines.tracking import model_description
    from pipelines.tracking.run_identity import DESCRIPTION_TAG

    run.call(mlflow.log_params, model_description.resolved_params(detector))
    text = model_description.describe(detector, modality, settings.data, metrics, settings.eval_data, run.run_id)
    run.call(mlflow.set_tag, DESCRIPTION_TAG, text)
    return text


def fail_fast_http() -> None:
    """Unless the user chose otherwise, give up on an unreachable server in seconds, not minutes, and keep
    MLflow's own chatter (INFO lines, its ERROR records and their tracebacks, artifact download bars) out of the
    pipeline's output: what fails reaches the user as the pipeline's own one line."""
    import logging

    for name in ("mlflow", "alembic", "sqlalchemy"):  # failures reach the user as our one error line
        logging.getLogger(name).setLevel(logging.CRITICAL)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
