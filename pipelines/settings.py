"""Pipeline settings: dataclasses filled from an optional YAML file, with command-line flags on top."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


@dataclass
class FitSettings:
    data: str
    label_column: str | None = None
    normal_only: bool = True
    drop_columns: list[str] = field(default_factory=list)
    categorical_columns: list[str] | None = None
    categorical_likelihood: bool = True
    eval_data: str | None = None
    threshold_fpr: float = 0.01
    output_dir: str = "outputs"
    tracking_uri: str | None = None
    experiment: str = "anomaly-vae"
    run_name: str | None = None
    register: str | None = None
    alias: str | None = None
    resume: bool = False
    checkpoint_dir: str | None = None
    # VAEAnomalyDetector parameters (None = the detector's default)
    latent_dim: int | None = None
    hidden_units: list[int] | None = None
    beta: float | None = None
    likelihood: str | None = None
    score_rule: str | None = None
    epochs: int | str | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    validation_fraction: float | None = None
    patience: int | str | None = None
    n_samples: int | None = None
    n_members: int | None = None
    activation: str | None = None
    kl_warmup: float | None = None
    precision: str | None = None
    random_state: int = 0
    verbose: int = 1

    DETECTOR_FIELDS = (
        "latent_dim", "hidden_units", "beta", "likelihood", "score_rule", "epochs", "batch_size",
        "learning_rate", "validation_fraction", "patience", "n_samples", "n_members", "activation", "kl_warmup", "precision", "random_state", "verbose",
    )

    def checkpoint_path(self) -> Path:
        """Where the per-epoch training checkpoint lives (``<output_dir>/checkpoint`` by default)."""
        return Path(self.checkpoint_dir) if self.checkpoint_dir else Path(self.output_dir) / "checkpoint"

    def detector_params(self) -> dict[str, Any]:
        params = {k: getattr(self, k) for k in self.DETECTOR_FIELDS if getattr(self, k) is not None}
        if params.get("patience") == "none":
            params["patience"] = None
        if "hidden_units" in params:
            params["hidden_units"] = tuple(params["hidden_units"])
        return params


@dataclass
class ScoreSettings:
    model_uri: str
    data: str
    output: str
    chunk_rows: int = 100_000
    tracking_uri: str | None = None
    experiment: str = "anomaly-vae"
    run_name: str | None = None
    log_run: bool = True


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
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"Unknown setting(s) {unknown} in {str(config)!r}; known: {sorted(names)}.")
    values.update({k: v for k, v in flags.items() if v is not None})
    missing = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING and f.name not in values]
    if missing:
        raise ValueError(f"Missing required setting(s): {missing} (give them as flags or in the config file).")
    return cls(**values)
