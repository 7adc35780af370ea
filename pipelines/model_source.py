"""From a model URI or folder to a ``ModelBundle`` (or ``ImageBundle``, ``SeriesBundle``), without running any code the model carries.

``mlflow.pyfunc.load_model`` would import the model's loader and unpickle or execute its Python
before we could check what it is. Instead we download the model's files (``runs:/``, ``models:/``,
any artifact URI) or take a local folder, read its ``MLmodel`` as plain YAML, accept only the
layout the fit pipeline logs (one ``python_function`` flavour, MLflow's models-from-code loader,
our ``pyfunc_entry.py``, one ``bundle`` artifact), and load the bundle's data files ourselves.
The registry lookups also say which version and run a ``models:/`` URI resolved to.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pipelines.tracking.mlflow_runs import TrackingError

CODE_LOADER = "mlflow.pyfunc.loaders.code_model"
ENTRY_FILE = "pyfunc_entry.py"  # pipelines/pyfunc_entry.py, logged as the model's code
_BAD_REFERENCE = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND", "BAD_REQUEST"}


@dataclass
class ModelSource:
    """Where a scored model came from: the URI given, and for registry URIs the version and run."""

    uri: str
    name: str | None = None
    version: str | None = None
    run_id: str | None = None

    def params(self) -> dict[str, str]:
        out = {"model_uri": self.uri}
        if self.name:
            out["model_name"] = self.name
        if self.version:
            out["model_version"] = self.version
        if self.run_id:
            out["model_run_id"] = self.run_id
        return out


def is_uri(text: str) -> bool:
    return ":/" in text


def check_mlmodel(path: Path, where: str) -> dict:
    """Refuse an ``MLmodel`` that is not the one the fit pipeline logs; nothing of the model is run."""
    import yaml

    try:
        meta = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise ValueError(f"{where}: its MLmodel file is not readable YAML: {err}") from None
    flavors = meta.get("flavors") if isinstance(meta, dict) else None
    pyfunc = flavors.get("python_function") if isinstance(flavors, dict) else None
    if not isinstance(pyfunc, dict) or not isinstance(flavors, dict) or set(flavors) != {"python_function"}:
        found = sorted(flavors) if isinstance(flavors, dict) else None
        raise ValueError(f"{where} is not an anomaly-vae model (flavours {found}); refusing to load it.")
    artifacts = pyfunc.get("artifacts")
    checks = {
        "loader": pyfunc.get("loader_module") == CODE_LOADER,
        "code": Path(str(pyfunc.get("model_code_path"))).name == ENTRY_FILE and not pyfunc.get("python_model"),
        "artifacts": bundle_path(artifacts) is not None,
    }
    failed = [k for k, ok in checks.items() if not ok]
    if failed:
        raise ValueError(
            f"{where} is not an anomaly-vae model (its MLmodel differs in: {', '.join(failed)}; "
            f"loader {pyfunc.get('loader_module')!r}); refusing to load it."
        )
    return meta


def bundle_path(artifacts) -> str | None:
    """The bundle's path inside an MLflow model (``artifacts/<folder name>``), or None if the
    ``artifacts`` entry of ``MLmodel`` is not exactly one bundle inside the model."""
    if not (isinstance(artifacts, dict) and set(artifacts) == {"bundle"} and isinstance(artifacts["bundle"], dict)):
        return None
    parts = PurePosixPath(str(artifacts["bundle"].get("path"))).parts
    if len(parts) != 2 or parts[0] != "artifacts" or parts[1] in (".", ".."):
        return None
    return "/".join(parts)


def bundle_from_model_folder(folder: Path, where: str):
    """The bundle of a model folder (any modality's, :mod:`pipelines.modalities`) or of an MLflow model folder
    holding one."""
    from pipelines.modalities import MODALITIES, load_bundle

    if any(m.saved_in(folder) for m in MODALITIES):
        return load_bundle(folder)
    if (folder / "MLmodel").is_file():
        meta = check_mlmodel(folder / "MLmodel", where)
        inside = bundle_path(meta["flavors"]["python_function"]["artifacts"])
        assert inside is not None  # check_mlmodel refused an MLmodel without exactly one bundle
        return load_bundle(folder / inside)
    documents = ", ".join(m.bundle_class.DOCUMENT for m in MODALITIES)
    raise ValueError(f"{where} is neither an anomaly-vae model folder ({documents}) nor an MLflow model (MLmodel).")


def registry_source(uri: str) -> ModelSource:
    """For ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``, the version and run it resolves to now."""
    import mlflow

    rest = uri[len("models:/") :].strip("/")
    client = mlflow.MlflowClient()
    if "@" in rest:
        name, alias = rest.split("@", 1)
        mv = client.get_model_version_by_alias(name, alias)
    elif "/" in rest and rest.rsplit("/", 1)[1].isdigit():
        name, version = rest.rsplit("/", 1)
        mv = client.get_model_version(name, version)
    else:
        raise ValueError(f"{uri!r}: give a registered model as models:/NAME@ALIAS or models:/NAME/VERSION.")
    return ModelSource(uri, name=mv.name, version=str(mv.version), run_id=mv.run_id)


def load_model(uri: str):
    """``(bundle, source)`` for a local folder, ``runs:/``, ``models:/`` or other MLflow artifact URI.

    ``ValueError`` for a wrong reference or a model that is not ours (exit 2 in the CLI),
    ``TrackingError`` when the tracking server or store fails (exit 3).
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    if not is_uri(uri):
        folder = Path(uri)
        if not folder.is_dir():
            raise ValueError(f"No model folder at {uri!r} (give a folder, runs:/RUN_ID/model or models:/NAME@ALIAS).")
        return bundle_from_model_folder(folder, repr(uri)), ModelSource(uri)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        if uri.startswith("models:/"):
            source = registry_source(uri)
            uri_to_fetch = f"models:/{source.name}/{source.version}"  # the version resolved above, not a moved alias
        else:
            source = ModelSource(uri, run_id=uri.split("/")[1] if uri.startswith("runs:/") else None)
            uri_to_fetch = uri
        with tempfile.TemporaryDirectory(prefix="anomaly-vae-model-") as tmp:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri_to_fetch, dst_path=tmp))
            return bundle_from_model_folder(local, repr(uri)), source
    except MlflowException as err:
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        if err.error_code in _BAD_REFERENCE or "registered artifact repository" in message:
            raise ValueError(f"No model at {uri!r}: {message}") from None
        raise TrackingError(f"could not fetch {uri!r} from MLflow: {message}") from None
    except OSError as err:
        raise TrackingError(f"could not fetch {uri!r}: {err}") from None
