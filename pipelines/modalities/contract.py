"""What a modality brings to the one fit, score and sample pipeline.

``pipelines/fit.py``, ``score.py`` and ``sample.py`` are written once, over this contract; tables, images and time
series each implement it in their own package (``modalities/table``, ``modalities/images``, ``modalities/series``),
and :mod:`pipelines.modalities` lists them. The pipelines never ask which modality they hold: everything that
differs (how the input is read and checked, the detector, the model folder, the review plots and measures, the
pyfunc input, how a file is scored and how samples are written) is a method here.

A fit creates one modality object per run (:func:`pipelines.modalities.for_fit`), so a modality may keep what it
read between :meth:`Modality.read`, :meth:`Modality.fit` and :meth:`Modality.evaluate`. Scoring and sampling start
from a saved model (:func:`pipelines.modalities.for_bundle`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np


@dataclass
class TrainingData:
    """A fit's input, as :meth:`Modality.read` found it: what the run logs about it."""

    count: int
    """Training examples (rows, images, time points), after ``--normal-only``."""
    params: dict[str, str] = field(default_factory=dict)
    """Run parameters that describe the input (an image shape, a schema), beside the settings."""
    dataset: Any = None
    """An ``mlflow.data`` dataset logged as the run's training input, or None."""


@dataclass
class ScoredFile:
    """What scoring one input file gave: the count, the flags and every score (for the drift check and the run)."""

    count: int
    flags: int
    scores: np.ndarray
    unknown_categories: dict[str, int] = field(default_factory=dict)


@dataclass
class Calibration:
    """A recalibrated model's logging needs: its MLflow signature and input example."""

    signature: Any
    input_example: Any


class Modality(ABC):
    """One kind of data. Subclasses set the class attributes and implement the abstract methods (a subclass that
    misses one cannot be instantiated)."""

    name: ClassVar[str]
    """As run names and tags show it (``table``, ``images``, ``series``)."""
    nouns: ClassVar[tuple[str, str, str]]
    """What the detector is for, one scored unit, and what it trains on (``("tables", "row", "rows")``)."""
    unit: ClassVar[str]
    """What the calibration scores count (``rows``, ``images``, ``time points``)."""
    bundle_class: ClassVar[Any]
    """The model folder's class (``save(folder, replace)``, ``load(folder)``, ``detector``, ``score(frame)``,
    ``sample(n, ...)``); its ``DOCUMENT`` is the file that marks a saved folder as this modality's."""
    checkpoints: ClassVar[bool] = True
    """Whether a fit of this modality keeps a per-epoch checkpoint (``--checkpoint-dir``) and can ``--resume``: any
    detector trained by ``BaseVAEDetector.fit`` can; a modality whose training is not one Keras fit sets False."""
    spark_scoring: ClassVar[bool] = False
    """Whether ``score --engine spark`` can score this modality: its examples are independent rows of a table."""
    sample_suffixes: ClassVar[tuple[str, ...]] = (".csv", ".parquet")
    """The OUTPUT forms ``anomaly-vae sample`` writes; ``()``: a folder."""

    # ---- fit ---------------------------------------------------------------------------------------------------
    @classmethod
    @abstractmethod
    def claims(cls, settings) -> bool:
        """Whether this modality reads the fit's ``settings.data`` (the registry asks in its order)."""
        raise NotImplementedError

    @abstractmethod
    def build_detector(self, settings):
        """The unfitted detector from the options that were set; an option of another modality is refused by name."""
        raise NotImplementedError

    @abstractmethod
    def read(self, settings, detector) -> TrainingData:
        """Read and check the training (and evaluation) input, print what was found; nothing is logged yet."""
        raise NotImplementedError

    @abstractmethod
    def fit(self, detector, callbacks: list):
        """Fit ``detector`` on what :meth:`read` kept; return the model bundle (the folder's object)."""
        raise NotImplementedError

    @abstractmethod
    def evaluate(self, bundle) -> tuple[dict[str, float], dict[str, Any]]:
        """This modality's final metrics and review plots (the pipeline adds the training curves and calibration)."""
        raise NotImplementedError

    @abstractmethod
    def model_example(self, bundle) -> tuple[Any, Any]:
        """The pyfunc model's MLflow signature and input example."""
        raise NotImplementedError

    def log_extras(self, run, bundle) -> None:
        """Anything else the fit run holds (a table's drawn rows); nothing by default."""
        return None

    # ---- saved models ------------------------------------------------------------------------------------------
    @classmethod
    def saved_in(cls, folder: Path) -> bool:
        """Whether ``folder`` holds a model of this modality (its bundle's document)."""
        return (Path(folder) / cls.bundle_class.DOCUMENT).is_file()

    @classmethod
    def holds(cls, bundle) -> bool:
        """Whether ``bundle`` is this modality's."""
        return isinstance(bundle, cls.bundle_class)

    # ---- score -------------------------------------------------------------------------------------------------
    def check_score(self, settings) -> None:
        """Refuse score options or inputs this modality cannot take, before anything is read; none by default."""
        return None

    @abstractmethod
    def score_file(self, settings, bundle) -> ScoredFile:
        """Score ``settings.data`` and write ``settings.output`` (and any side outputs) atomically."""
        raise NotImplementedError

    def spark_columns(self, bundle, sample) -> tuple[list[str], list[str]]:
        """For ``score --engine spark`` (where :attr:`spark_scoring`): check ``sample`` (the input's first rows, as
        text) and return the columns the pyfunc model takes row by row and those of them written as numbers."""
        raise NotImplementedError

    @abstractmethod
    def calibrate(self, bundle, path: str) -> Calibration:
        """Re-fit ``bundle``'s threshold on the normal examples in ``path`` (``score --recalibrate``)."""
        raise NotImplementedError

    # ---- sample ------------------------------------------------------------------------------------------------
    @abstractmethod
    def write_samples(self, draws, output: Path, overwrite: bool) -> str:
        """Write the chunks ``draws`` yields (``(start, samples)``) to ``output`` atomically; the samples' noun."""
        raise NotImplementedError
