"""Scoring images with an image model: ``anomaly-vae score MODEL images/ scores.csv [--maps DIR]``.

The output table has one row per image: ``path`` (relative to the folder, or ``file.npz[i]``),
``anomaly_score``, ``p_value``, ``is_anomaly`` (with ``--fdr``, by Benjamini-Hochberg over all the images) and,
for a labelled input (an MVTec ``test/`` folder, an ``.npz`` with ``y``),
``label``. With ``--maps DIR``, each image's anomaly map is written as a grey PNG at the image's own relative path
with the suffix ``.png`` (``test/crack/001.png``; ``file.npz[3]`` gives ``file/3.png``), so names are one-to-one
with the rows; all maps share one scale: black is the lowest pixel NLL of the batch, white its 99.5th percentile
and above, so maps compare across images. DIR must be new (or empty), or replaced with ``--overwrite``; it may
never be, hold or lie inside the input (:mod:`pipelines.output_rules`). Both are written atomically.
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


def map_names(paths: list[str]) -> list[str]:
    """One map file name per image path, one-to-one: the relative path with the suffix ``.png`` (``a/b.jpg`` ->
    ``a/b.png``); where two images would share a name (``b.jpg`` beside ``b.png``), both keep their suffix in the
    stem (``a/b_jpg.png``, ``a/b_png.png``). An ``.npz`` row ``file.npz[3]`` maps to ``file/3.png``."""
    import re
    from collections import Counter

    def plain(path: str) -> str:
        row = re.fullmatch(r"(.*)\.npz\[(\d+)\]", path)
        return f"{row.group(1)}/{row.group(2)}.png" if row else str(Path(path).with_suffix(".png"))

    names = [plain(p) for p in paths]
    counts = Counter(names)
    names = [
        str(Path(p).with_name(f"{Path(p).stem}_{Path(p).suffix[1:].lower()}.png")) if counts[n] > 1 else n
        for p, n in zip(paths, names)
    ]
    clashes = [n for n, c in Counter(names).items() if c > 1]
    if clashes:
        raise ValueError(f"--maps: two images would share the map name {clashes[0]!r}; rename one of them.")
    return names


def score_images(settings, bundle) -> tuple[pd.DataFrame, np.ndarray]:
    """Score ``settings.data`` (a folder or ``.npz``) with an ``ImageBundle``; write the table (and maps)."""
    from PIL import Image

    from anomaly_vae.decisions.p_values import bh_cutoff, conformal_p_values
    from anomaly_vae.persistence.atomic import write_folder_atomically
    from pipelines.modalities.images.files import read_images
    from pipelines.score_columns import score_columns
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
        pngs, names = map_pngs(maps), map_names(found.paths)

        def write(tmp: Path) -> None:
            for name, png in zip(names, pngs):
                target = tmp / name
                target.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(png).save(target)

        write_folder_atomically(settings.maps, write, replace=settings.overwrite)
    write_table_atomic([table], settings.output, replace=settings.overwrite)
    return table, scores
