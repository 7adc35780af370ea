"""``anomaly-vae sample MODEL N OUTPUT``: new rows (or images) drawn from a model, written atomically.

A table model writes a ``.csv`` or ``.parquet`` with the model's input columns (:meth:`ModelBundle.sample`); an
image model writes a new folder of PNGs (``sample_0000.png``, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from anomaly_vae.choices import SAMPLE_CODES


@dataclass
class SampleResult:
    output: Path
    n: int
    kind: str  # "rows" or "images"


def run_sample(model_uri: str, n_samples: int, output: str, random_state: int | None = 0,
               tracking_uri: str | None = None, noise: bool = True, codes: str = SAMPLE_CODES[0]) -> SampleResult:
    import mlflow

    from anomaly_vae.atomic import write_folder_atomically
    from anomaly_vae.validation import check_positive_int
    from pipelines.image_bundle import ImageBundle
    from pipelines.model_source import load_model
    from pipelines.settings import check_folder
    from pipelines.tables import table_format, write_table_atomic
    from pipelines.tracking import fail_fast_http
    from pipelines.tracking import tracking_uri as resolve_uri

    n = check_positive_int("N (the number of samples)", n_samples)
    if codes not in SAMPLE_CODES:
        raise ValueError(f"--codes must be one of {', '.join(SAMPLE_CODES)}; got {codes!r}.")
    out = Path(output)
    check_folder(out.parent, None, what=f"OUTPUT {output!r}")
    fail_fast_http()
    mlflow.set_tracking_uri(resolve_uri(tracking_uri))
    bundle, _ = load_model(model_uri)
    if isinstance(bundle, ImageBundle):
        if out.exists():
            raise ValueError(f"OUTPUT {output!r} already exists; an image model writes its samples into a new folder.")
        images = bundle.sample(n, random_state=random_state, noise=noise, codes=codes)

        def write(tmp: Path) -> None:
            from PIL import Image

            for i, image in enumerate(images):
                Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(tmp / f"sample_{i:04d}.png")

        write_folder_atomically(out, write, replace=False)
        return SampleResult(out, len(images), "images")
    if out.is_dir():
        raise ValueError(f"OUTPUT {output!r} is a folder; give a file name such as {str(out / 'samples.csv')!r}.")
    if table_format(output) == "npz":
        raise ValueError(f"OUTPUT {output!r}: samples are written as .csv or .parquet, not .npz.")
    frame = bundle.sample(n, random_state=random_state, noise=noise, codes=codes)  # checked finite as it is decoded
    write_table_atomic([frame], out)
    from pipelines.series_bundle import SeriesBundle

    if isinstance(bundle, SeriesBundle):
        return SampleResult(out, n, "windows")
    return SampleResult(out, len(frame), "rows")
