"""Reading what ``anomaly-vae fit`` prints, for the benchmarks that run the command as a user does."""

LOCAL_MODEL_PREFIX = "local model: "


def local_model(fit_output: str) -> str:
    """The model folder ``anomaly-vae fit`` printed. A rerun in the same output folder writes ``model-2``,
    ``model-3``, ... beside the first, so a benchmark scores this, never a folder name it assumes."""
    for line in fit_output.splitlines():
        if line.startswith(LOCAL_MODEL_PREFIX):
            return line[len(LOCAL_MODEL_PREFIX) :]
    raise RuntimeError(f"anomaly-vae fit printed no {LOCAL_MODEL_PREFIX.strip()!r} line:\n{fit_output}")
