"""Pipeline settings: dataclasses filled from an optional YAML file, with command-line flags on top."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, dataclass_transform

import yaml

from pipelines.detector_options import flag


@dataclass_transform()
def with_detector_settings(cls):
    """Add one setting per ``VAEAnomalyDetector`` parameter (:mod:`pipelines.detector_options`), then make
    ``cls`` a dataclass: None means the detector's default, except where the pipeline has its own. (A type checker
    sees the fields written in the class; the detector's are given through :func:`load_settings`.)"""
    from pipelines.detector_options import PIPELINE_DEFAULTS, setting_names

    for name in setting_names():
        cls.__annotations__[name] = "Any"
        setattr(cls, name, PIPELINE_DEFAULTS.get(name))
    cls.DETECTOR_FIELDS = tuple(setting_names())
    return dataclass(cls)


DEFAULT_EXPERIMENT = "anomaly-vae"
"""The MLflow experiment every pipeline logs to unless told otherwise."""


@with_detector_settings
class FitSettings:
    """The fit pipeline's settings; every ``VAEAnomalyDetector`` parameter is added as one more field."""

    DETECTOR_FIELDS: ClassVar[tuple[str, ...]] = ()  # set by with_detector_settings

    data: str
    label_column: str | None = None
    normal_only: bool = True
    drop_columns: list[str] = field(default_factory=list)
    categorical_columns: list[str] | None = None
    categorical_likelihood: bool = True
    eval_data: str | None = None
    output_dir: str = "outputs"
    tracking_uri: str | None = None
    experiment: str = DEFAULT_EXPERIMENT
    run_name: str | None = None
    register: str | None = None
    alias: str | None = None
    resume: bool = False
    checkpoint_dir: str | None = None

    def checkpoints_root(self) -> Path:
        """The folder of per-run training checkpoints (``<output_dir>/checkpoints``): one subfolder per
        fit, so fits sharing an output folder never share a checkpoint."""
        return Path(self.output_dir) / "checkpoints"

    def check(self) -> None:
        """Refuse settings that cannot work before anything is trained, naming the flag."""
        check_folder(self.output_dir, "output_dir")
        if self.checkpoint_dir:
            check_folder(self.checkpoint_dir, "checkpoint_dir")
        if self.alias and not self.register:
            raise ValueError(f"{flag('alias')} needs {flag('register')}: an alias points at a registered version.")
        if self.run_name is not None and (
            not self.run_name.strip() or "/" in self.run_name or self.run_name in (".", "..")
        ):
            raise ValueError(f"{flag('run_name')} must be a plain name (it names a folder); got {self.run_name!r}.")
        check_detector_params(self.detector_params())

    def detector_params(self) -> dict[str, Any]:
        """The detector parameters that were set (None: the detector's default); YAML's ``none`` is None."""
        params = {k: getattr(self, k) for k in self.DETECTOR_FIELDS if getattr(self, k) is not None}
        params = {k: None if isinstance(v, str) and v.lower() == "none" else v for k, v in params.items()}
        for key in ("hidden_units", "filters"):
            if isinstance(params.get(key), list):
                params[key] = tuple(params[key])
        return params


@dataclass
class ScoreSettings:
    model_uri: str
    data: str
    output: str
    chunk_rows: int = 100_000
    tracking_uri: str | None = None
    experiment: str = DEFAULT_EXPERIMENT
    run_name: str | None = None
    log_run: bool = True
    engine: str = "local"
    spark_master: str = "local[*]"
    maps: str | None = None
    fdr: float | None = None
    recalibrate: str | None = None
    overwrite: bool = False

    def inputs(self) -> list[tuple[str, str | None]]:
        """What this command reads, as ``(label, path)``: no output may name or hold any of them."""
        from pipelines.model_source import is_uri

        model = None if is_uri(self.model_uri) else self.model_uri
        return [("DATA", self.data), ("MODEL", model), (flag("recalibrate"), self.recalibrate)]

    def check_engine(self) -> None:
        """Refuse options the chosen engine does not have."""
        if self.engine == "spark" and (self.fdr is not None or self.recalibrate):
            raise ValueError(
                f"{flag('fdr')} and {flag('recalibrate')} work with --engine local: Benjamini-Hochberg "
                "needs every row's p-value before it flags one, and a recalibrated model is logged first."
            )

    def check(self) -> None:
        """Refuse settings that cannot work before a model is loaded, naming the flag or argument."""
        from pipelines.output_rules import check_output_file, check_output_folder
        from pipelines.tables import table_format

        if self.fdr is not None and not 0 < self.fdr < 1:
            raise ValueError(f"{flag('fdr')} must be between 0 and 1 (exclusive); got {self.fdr}.")
        if self.recalibrate is not None and not Path(self.recalibrate).exists():
            raise ValueError(f"{flag('recalibrate')} {self.recalibrate!r}: no such file or folder.")
        self.check_engine()
        if self.chunk_rows < 1:
            raise ValueError(f"{flag('chunk_rows')} must be a positive number of rows; got {self.chunk_rows}.")
        if not Path(self.data).exists():
            raise ValueError(f"DATA {self.data!r}: no such file or folder.")
        check_output_file(self.output, self.inputs(), self.overwrite)
        if table_format(self.output) == "npz":
            raise ValueError(f"OUTPUT {self.output!r}: scores are written as .csv or .parquet, not .npz.")
        check_folder(Path(self.output).parent, None, what=f"OUTPUT {self.output!r}")
        if self.maps:
            check_output_folder(self.maps, [*self.inputs(), ("OUTPUT", self.output)], self.overwrite, what=flag("maps"))
            check_folder(self.maps, "maps")


def check_folder(path: str | os.PathLike, field_name: str | None, what: str | None = None) -> None:
    """Refuse a folder path that is a file, or under one, before any work is done."""
    what = what or f"{flag(field_name or 'path')} {str(path)!r}"
    p = Path(path)
    for part in [p, *p.parents]:
        if part.exists():
            if not part.is_dir():
                raise ValueError(f"{what}: {str(part)!r} is a file, not a folder.")
            return


def check_detector_params(params: dict[str, Any]) -> None:
    """The detectors' own parameter validation, its message phrased with the flag names: image-only options
    by ``VAEImageDetector``, series-only ones by ``VAESeriesDetector``, the others by ``VAEAnomalyDetector``, or,
    where it refuses a value that the image or the series detector takes (``--n-members auto``), by that one (which
    of them applies to the data is checked when the data's modality is known, by the detector it builds)."""
    from sklearn.utils._param_validation import InvalidParameterError

    from anomaly_vae import VAEAnomalyDetector, VAEImageDetector, VAESeriesDetector
    from pipelines.detector_options import image_only_parameters, series_only_parameters

    image_only = {p.name for p in image_only_parameters()}
    series_only = {p.name for p in series_only_parameters()}

    def valid(cls, values) -> bool:
        try:
            cls(**values)._validate_params()
        except InvalidParameterError:
            return False
        return True

    def only_elsewhere(name, value) -> bool:  # refused by the table detector, taken by the image or series one
        others = (VAEImageDetector, VAESeriesDetector)
        return not valid(VAEAnomalyDetector, {name: value}) and any(
            name in cls().get_params() and valid(cls, {name: value}) for cls in others
        )

    shared = {k: v for k, v in params.items() if k not in image_only | series_only and not only_elsewhere(k, v)}
    try:
        VAEAnomalyDetector(**shared)._validate_params()
        VAEImageDetector(**{k: v for k, v in params.items() if k in image_only})._validate_params()
        VAESeriesDetector(**{k: v for k, v in params.items() if k in series_only})._validate_params()
    except InvalidParameterError as err:
        raise ValueError(flag_names(str(err))) from None


def flag_names(message: str) -> str:
    """A detector's parameter-validation message with its parameter named by the flag (``--n-members``)."""
    import re

    return re.sub(r"The '(\w+)' parameter of VAE\w+Detector", lambda m: flag(m.group(1)), message)


RENAMED = {"threshold_fpr": "target_fpr"}
"""Settings of earlier versions and their names now (``--threshold-fpr`` became the detector's ``target_fpr``)."""


def load_settings(cls, config: str | os.PathLike | None, flags: dict[str, Any]):
    """``cls`` built from the YAML file ``config`` (if any), then every flag that was given (not None)."""
    values: dict[str, Any] = {}
    if config is not None:
        path = Path(config)
        if not path.is_file():
            raise ValueError(f"Config file not found: {str(path)!r}.")
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as err:
            raise ValueError(f"Config file {str(path)!r} is not valid YAML: {err}") from err
        if loaded is not None and not isinstance(loaded, dict):
            raise ValueError(f"Config file {str(path)!r} must hold a mapping of setting: value.")
        values.update(loaded or {})
    names = {f.name for f in dataclasses.fields(cls)}
    renamed = sorted(set(values) & set(RENAMED))
    if renamed:
        raise ValueError(
            f"Setting {renamed[0]!r} in {str(config)!r} is now {RENAMED[renamed[0]]!r} ({flag(RENAMED[renamed[0]])})."
        )
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"Unknown setting(s) {unknown} in {str(config)!r}; known: {sorted(names)}.")
    values.update({k: v for k, v in flags.items() if v is not None})
    missing = [
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and f.name not in values
    ]
    if missing:
        raise ValueError(f"Missing required setting(s): {missing} (give them as flags or in the config file).")
    return cls(**values)
