"""``anomaly-vae sample MODEL N OUTPUT``: new rows (or images) drawn from a model, written atomically.

A table model writes a ``.csv`` or ``.parquet`` with the model's input columns (:meth:`ModelBundle.sample`); an
image model writes a new folder of PNGs (``sample_0000000.png``, ...). Samples are drawn and written in chunks of
at most ``MAX_SAMPLE_VALUES`` values, so memory stays bounded; N itself is capped at ``MAX_SAMPLES``. OUTPUT follows
:mod:`pipelines.output_rules`: it never names the model, and an existing file or non-empty folder is replaced only
with ``--overwrite``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from anomaly_vae.choices import SAMPLE_CODES

MAX_SAMPLES = 10_000_000
"""The most rows, windows or images one ``anomaly-vae sample`` draws."""


@dataclass
class SampleResult:
    output: Path
    n: int
    kind: str  # "rows" or "images"


def run_sample(model_uri: str, n_samples: int, output: str, random_state: int | None = 0,
               tracking_uri: str | None = None, noise: bool = True, codes: str = SAMPLE_CODES[0],
               overwrite: bool = False) -> SampleResult:
    import mlflow
    import numpy as np

    from anomaly_vae.generation.generative import MAX_SAMPLE_VALUES
    from anomaly_vae.inputs.validation import check_positive_int
    from anomaly_vae.persistence.atomic import write_folder_atomically
    from pipelines.image_bundle import ImageBundle
    from pipelines.model_source import is_uri, load_model
    from pipelines.output_rules import check_output_file, check_output_folder
    from pipelines.settings import check_folder
    from pipelines.tables import table_format, write_table_atomic
    from pipelines.tracking import fail_fast_http
    from pipelines.tracking import tracking_uri as resolve_uri

    n = check_positive_int("N (the number of samples)", n_samples)
    if n > MAX_SAMPLES:
        raise ValueError(f"N (the number of samples) is {n:,}; one command draws at most {MAX_SAMPLES:,}.")
    if codes not in SAMPLE_CODES:
        raise ValueError(f"--codes must be one of {', '.join(SAMPLE_CODES)}; got {codes!r}.")
    out = Path(output)
    inputs = [] if is_uri(model_uri) else [("MODEL", model_uri)]
    if out.suffix.lower() in (".csv", ".parquet", ".pq", ".npz"):  # a table's file: refused before the model loads
        check_output_file(out, inputs, overwrite)
    else:  # a folder of images, or a mistake for a table: the model's kind decides after loading
        check_output_folder(out, inputs, overwrite=True)
    check_folder(out.parent, None, what=f"OUTPUT {output!r}")
    fail_fast_http()
    mlflow.set_tracking_uri(resolve_uri(tracking_uri))
    bundle, _ = load_model(model_uri)
    per_sample = int(np.prod(bundle.detector.vae_.event_shape))
    chunk = max(1, MAX_SAMPLE_VALUES // per_sample)

    def draws():
        """The samples in chunks; the first chunk with ``random_state`` itself, so a small N is one plain draw."""
        for i, start in enumerate(range(0, n, chunk)):
            seed = random_state if i == 0 or random_state is None else int(
                np.random.SeedSequence([random_state, i]).generate_state(1)[0])
            yield start, bundle.sample(min(chunk, n - start), random_state=seed, noise=noise, codes=codes)

    if isinstance(bundle, ImageBundle):
        check_output_folder(out, inputs, overwrite)

        def write(tmp: Path) -> None:
            from PIL import Image

            for start, images in draws():
                for i, image in enumerate(images, start=start):
                    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(tmp / f"sample_{i:07d}.png")

        write_folder_atomically(out, write, replace=overwrite)
        return SampleResult(out, n, "images")
    check_output_file(out, inputs, overwrite)
    if table_format(output) == "npz":
        raise ValueError(f"OUTPUT {output!r}: samples are written as .csv or .parquet, not .npz.")
    from pipelines.series_bundle import SeriesBundle

    series = isinstance(bundle, SeriesBundle)

    def frames():
        for start, frame in draws():  # checked finite as each chunk is decoded
            if series:  # windows numbered through the whole file
                frame["window"] += start
            yield frame

    write_table_atomic(frames(), out, replace=overwrite)
    return SampleResult(out, n, "windows" if series else "rows")
