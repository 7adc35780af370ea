"""Scoring images with an image model: ``anomaly-vae score MODEL images/ scores.csv [--maps DIR]``.

The output table has one row per image: ``path`` (relative to the folder, or ``file.npz[i]``),
``anomaly_score``, ``p_value``, ``is_anomaly`` (with ``--fdr``, by Benjamini-Hochberg over all the images) and,
for a labelled input (an MVTec ``test/`` folder, an ``.npz`` with ``y``),
``label``. With ``--maps DIR``, each image's anomaly map is written as a grey PNG (``DIR/<path>.png``, the
path's folders joined with ``__``), all maps on one scale: black is the lowest pixel NLL of the batch, white
its 99.5th percentile and above, so maps compare across images. Both are written atomically.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def map_pngs(maps: np.ndarray) -> np.ndarray:
    """Anomaly maps ``(n, h, w)`` as uint8 on one shared scale (see the module docstring)."""
    lo, hi = float(np.min(maps)), float(np.percentile(maps, 99.5))
    scaled = (maps - lo) / (hi - lo) if hi > lo else np.zeros_like(maps)
    return np.round(np.clip(scaled, 0.0, 1.0) * 255).astype(np.uint8)


def map_name(path: str) -> str:
    return path.replace("/", "__").replace("[", "_").replace("]", "") + ".png"


def score_images(settings, bundle) -> tuple[pd.DataFrame, np.ndarray]:
    """Score ``settings.data`` (a folder or ``.npz``) with an ``ImageBundle``; write the table (and maps)."""
    from PIL import Image

    from anomaly_vae.atomic import write_folder_atomically
    from anomaly_vae.p_values import bh_cutoff, conformal_p_values
    from pipelines.bundle import score_columns
    from pipelines.image_files import read_images
    from pipelines.tables import write_table_atomic

    found = read_images(settings.data, "test")
    try:
        scores, maps = bundle.score_images(found.images)
    except ValueError as err:
        raise ValueError(f"{settings.data!r}, model {settings.model_uri!r}: {err}") from None
    cutoff = None
    if settings.fdr is not None:
        cutoff = bh_cutoff(conformal_p_values(bundle.detector.calibration_scores_, scores), settings.fdr)
    table = pd.DataFrame({"path": found.paths, **score_columns(bundle.detector, scores, cutoff)})
    if found.labels is not None:
        table["label"] = found.labels
    if settings.maps:
        pngs = map_pngs(maps)

        def write(tmp: Path) -> None:
            for path, png in zip(found.paths, pngs):
                Image.fromarray(png).save(tmp / map_name(path))

        write_folder_atomically(settings.maps, write)
    write_table_atomic([table], settings.output)
    return table, scores
