"""The modalities the pipelines know, each a plug-in over :mod:`pipelines.modalities.contract`.

- ``table/``: tables (schema, preprocessing, ``ModelBundle``), chunked scoring, checkpoints;
- ``images/``: image folders and arrays (``ImageBundle``, anomaly maps, image plots);
- ``series/``: time series (``SeriesBundle``, the series plot, VUS-PR).

Adding a modality: a package here with a ``Modality`` subclass and its bundle, and one line in :data:`MODALITIES`.
"""

from __future__ import annotations

import os
from pathlib import Path

from pipelines.modalities.contract import Modality
from pipelines.modalities.images.modality import ImagesModality
from pipelines.modalities.series.modality import SeriesModality
from pipelines.modalities.table.modality import TableModality

MODALITIES: tuple[type[Modality], ...] = (ImagesModality, SeriesModality, TableModality)
"""In the order a fit's input is offered to them (:meth:`Modality.claims`); the table takes what is left."""


def for_fit(settings) -> Modality:
    """A new modality object for a fit of ``settings.data``: the first that claims it."""
    return next(m for m in MODALITIES if m.claims(settings))()


def for_bundle(bundle) -> Modality:
    """The modality of a loaded model bundle."""
    found = next((m for m in MODALITIES if m.holds(bundle)), None)
    if found is None:
        raise TypeError(f"{type(bundle).__name__} is not the bundle of any modality.")
    return found()


def load_bundle(folder: str | os.PathLike):
    """A saved model folder as its modality's bundle, told by the document it holds (``bundle.json``,
    ``image_bundle.json``, ``series_bundle.json``); a folder with none is read as a table, whose loader says
    what is missing."""
    folder = Path(folder)
    found = next((m for m in MODALITIES if m.saved_in(folder)), TableModality)
    return found.bundle_class.load(folder)
