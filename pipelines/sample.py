"""``anomaly-vae sample MODEL N OUTPUT``: new rows (or images) drawn from a model, written atomically.

What is written is the model's modality's (:meth:`~pipelines.modalities.contract.Modality.write_samples`): a table
model writes a ``.csv`` or ``.parquet`` with the model's input columns, a series model one of windows, an image model
a new folder of PNGs (``sample_0000000.png``, ...). Samples are drawn and written in chunks of
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
    kind: str  # what was drawn: "rows", "windows" or "images"


def run_sample(
    model_uri: str,
    n_samples: int,
    output: str,
    random_state: int | None = 0,
    tracking_uri: str | None = None,
    noise: bool = True,
    codes: str = SAMPLE_CODES[0],
    overwrite: bool = False,
) -> SampleResult:
    import mlflow
    import numpy as np

    from anomaly_vae.generation.generative import MAX_SAMPLE_VALUES
    from anomaly_vae.inputs.validation import check_positive_int
    from pipelines import modalities
    from pipelines.model_source import is_uri, load_model
    from pipelines.output_rules import check_output_file, check_output_folder
    from pipelines.settings import check_folder
    from pipelines.tables import FORMATS, table_format
    from pipelines.tracking.mlflow_runs import fail_fast_http
    from pipelines.tracking.mlflow_runs import tracking_uri as resolve_uri

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
    modality = modalities.for_bundle(bundle)
    per_sample = int(np.prod(bundle.detector.vae_.event_shape))
    chunk = max(1, MAX_SAMPLE_VALUES // per_sample)

    def draws():
        """The samples in chunks; the first chunk with ``random_state`` itself, so a small N is one plain draw."""
        for i, start in enumerate(range(0, n, chunk)):
            seed = (
                random_state
                if i == 0 or random_state is None
                else int(np.random.SeedSequence([random_state, i]).generate_state(1)[0])
            )
            yield start, bundle.sample(min(chunk, n - start), random_state=seed, noise=noise, codes=codes)

    if modality.sample_suffixes:  # a table of samples
        check_output_file(out, inputs, overwrite)
        if table_format(output) not in {FORMATS[s] for s in modality.sample_suffixes}:
            raise ValueError(
                f"OUTPUT {output!r}: samples are written as {' or '.join(modality.sample_suffixes)}, not {out.suffix}."
            )
    else:  # a folder of samples
        check_output_folder(out, inputs, overwrite)
    kind = modality.write_samples(draws(), out, overwrite)  # checked finite as each chunk is decoded
    return SampleResult(out, n, kind)
