"""``anomaly-vae impute DATA OUTPUT``: fill a table's missing numbers with a ``VAEImputer`` fitted on the table itself.

The numeric columns with missing values are imputed (the other numeric columns inform the imputation); every other
column is written back as it was read, and a column whose observed values are all whole numbers gets whole numbers
(rounded, written as integers) rather than silently becoming a column of fractions. ``--ignore-column`` keeps a
column (an identifier, a label) out of the imputation. ``--save-model FOLDER`` keeps the fitted imputer, and the
MLflow run logs it as ``imputer/``; ``--model FOLDER`` (or ``runs:/<run id>/imputer``) imputes with a saved imputer
instead of fitting one. Before fitting, a share of the
observed numeric entries (``--holdout``, 10%) is hidden too: the imputer never sees them, and their error is the
run's honest measure of how well it imputes (RMSE in units of each column's standard deviation, overall and per
column, and a plot of true against imputed values). The output is then completed from every observed entry and
written atomically; the MLflow run logs the settings, the error, the plot and the per-column table.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

HOLDOUT = 0.1
"""Share of the observed numeric entries hidden from the imputer to measure its error."""

IMPUTER_ARTIFACT = "imputer"
"""The run's artifact folder holding the fitted imputer (``--model runs:/<run id>/imputer`` imputes with it)."""


@dataclass
class ImputeResult:
    output: Path
    rows: int
    imputed: int
    columns: list[str]
    rmse: float | None
    rounded: list[str]
    left_missing: dict[str, int]
    """Non-numeric columns and how many missing values they keep (VAEImputer fills numbers only)."""
    run_id: str | None = None
    tracking_error: str | None = None


def holdout_mask(observed: np.ndarray, share: float, seed: int) -> np.ndarray:
    """About ``share`` of the observed entries, at random, never a row's or a column's last observed entry."""
    rng = np.random.default_rng(seed)
    hidden = observed & (rng.random(observed.shape) < share)
    for axis in (1, 0):  # give each row, then each column, back one entry if all its observed ones were taken
        left = (observed & ~hidden).sum(axis=axis)
        for i in np.flatnonzero(left == 0):
            line = hidden[i] if axis == 1 else hidden[:, i]
            taken = np.flatnonzero(line)
            if len(taken):
                if axis == 1:
                    hidden[i, taken[0]] = False
                else:
                    hidden[taken[0], i] = False
    return hidden


def load_imputer_from(model: str):
    """A saved ``VAEImputer`` from a local folder or an artifact URI (``runs:/ID/imputer``, as the impute run logs
    it): the files are downloaded and read as data by :func:`~anomaly_vae.persistence.imputer_persistence.load_imputer`."""
    import tempfile

    import mlflow

    from anomaly_vae.persistence.imputer_persistence import load_imputer
    from pipelines.model_source import is_uri

    if not is_uri(model):
        if not Path(model).is_dir():
            raise ValueError(
                f"--model {model!r}: no such folder (give a folder written by --save-model, or runs:/RUN_ID/imputer)."
            )
        return load_imputer(model)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(artifact_uri=model, dst_path=tmp)
        except Exception as err:  # MLflow's errors for a missing run or path differ by store
            raise ValueError(f"--model {model!r} could not be downloaded: {str(err).splitlines()[0]}") from None
        return load_imputer(local)


def run_impute(
    data: str,
    output: str,
    holdout: float = HOLDOUT,
    seed: int = 0,
    params: dict | None = None,
    ignore: list[str] | None = None,
    tracking_uri: str | None = None,
    experiment: str | None = None,
    run_name: str | None = None,
    log_run: bool = True,
    model: str | None = None,
    save_model: str | None = None,
    overwrite: bool = False,
) -> ImputeResult:
    """Impute ``data`` into ``output`` with a ``VAEImputer`` fitted on it, or with the saved one ``model`` (a folder
    or ``runs:/ID/imputer``); ``save_model`` writes the fitted imputer to a new folder."""
    import mlflow

    from anomaly_vae import VAEImputer
    from pipelines.modalities.table.schema import Schema
    from pipelines.model_source import is_uri
    from pipelines.output_rules import check_output_file, check_output_folder
    from pipelines.settings import DEFAULT_EXPERIMENT, check_folder
    from pipelines.tables import read_table, table_format, write_table_atomic
    from pipelines.tracking import run_identity
    from pipelines.tracking.mlflow_runs import SafeRun, fail_fast_http, open_store
    from pipelines.tracking.mlflow_runs import tracking_uri as resolve_uri

    if not 0 <= holdout < 1:
        raise ValueError(f"--holdout must be in [0, 1), got {holdout!r}.")
    if not Path(data).is_file():
        raise ValueError(f"DATA {data!r}: no such file.")
    out = Path(output)
    if table_format(output) == "npz":
        raise ValueError(f"OUTPUT {output!r}: the completed table is written as .csv or .parquet, not .npz.")
    inputs = [("DATA", data), ("--model", None if model is None or is_uri(model) else model)]
    check_output_file(out, inputs, overwrite)
    check_folder(out.parent, None, what=f"OUTPUT {output!r}")
    if save_model is not None:
        check_output_folder(save_model, [*inputs, ("OUTPUT", output)], what="--save-model")
    if model is not None and params:
        raise ValueError(
            f"--model imputes with a saved imputer; {', '.join('--' + k for k in params)} would only "
            f"configure a new fit."
        )
    if model is not None and save_model is not None:
        raise ValueError("--model imputes with a saved imputer and --save-model saves a newly fitted one; give one.")
    if save_model is not None and Path(save_model).exists():
        raise ValueError(f"--save-model {save_model!r} already exists; give a new folder (nothing is replaced).")
    if save_model is not None and Path(save_model).resolve() == out.resolve():
        raise ValueError("--save-model and OUTPUT name the same path; give two.")
    if model is not None:
        fail_fast_http()
        mlflow.set_tracking_uri(resolve_uri(tracking_uri))
        loaded = load_imputer_from(model)
    frame = read_table(data)
    schema = Schema.infer(frame, drop=list(ignore or []))
    if not schema.numeric:
        raise ValueError(f"{data!r} has no numeric column to impute (columns: {list(frame.columns)}).")
    values = Schema(numeric=schema.numeric, categorical=[]).conform(frame)  # inf or text in a number column: refused
    X = values.to_numpy(dtype=np.float64)
    missing = np.isnan(X)
    hidden = holdout_mask(~missing, holdout, seed) if holdout else np.zeros_like(missing)
    if model is not None:
        imputer = loaded
        expected = [str(c) for c in getattr(imputer, "feature_names_in_", [])]
        if expected != schema.numeric:
            raise ValueError(
                f"--model {model!r} imputes the columns {expected}; {data!r} has the numeric columns "
                f"{schema.numeric} (--ignore-column leaves columns out)."
            )
    else:
        imputer = VAEImputer(random_state=seed, verbose=1 if sys.stderr.isatty() else 0, **(params or {}))
    try:
        if model is None:
            imputer.fit(pd.DataFrame(np.where(hidden, np.nan, X), columns=schema.numeric))
        report = None
        if hidden.any():
            guessed = imputer.transform(pd.DataFrame(np.where(hidden | missing, np.nan, X), columns=schema.numeric))
            report = error_report(X, guessed, hidden, schema.numeric)
        completed = imputer.transform(values)
    except ValueError as err:  # an empty column or row: say which file (rows count from 0, the header not counted)
        raise ValueError(f"{data!r}: {str(err).replace('Input X ', '')}") from None
    result_frame, rounded = completed_table(data, frame, output, schema.numeric, X, missing, completed)
    write_table_atomic([result_frame], out, replace=overwrite)
    if save_model is not None:
        from anomaly_vae.persistence.imputer_persistence import save_imputer

        save_imputer(imputer, save_model, replace=False)
    result = ImputeResult(
        out,
        len(frame),
        int(missing.sum()),
        schema.numeric,
        None if report is None else report.overall,
        rounded,
        {c: int(frame[c].isna().sum()) for c in schema.categorical if frame[c].isna().any()},
    )
    if not log_run:
        return result
    fail_fast_http()
    mlflow.set_tracking_uri(resolve_uri(tracking_uri))
    run = SafeRun()
    run.call(open_store, mlflow.get_tracking_uri())
    run.call(run_identity.use_experiment, experiment or DEFAULT_EXPERIMENT)
    active = run.call(run_identity.start_run, "impute", "table", data, run_name, model_uri=model)
    if active is not None:
        run.run_id = active.info.run_id
        run.call(
            mlflow.log_params,
            {
                "data": data,
                "output": output,
                "holdout": holdout,
                "seed": seed,
                **({"model": model} if model is not None else {}),
                "numeric_columns": ",".join(schema.numeric)[:500],
                "ignored_columns": ",".join(ignore or [])[:500],
                **{f"imputer.{k}": v for k, v in imputer.get_params().items()},
            },
        )
        metrics = {
            "rows": float(len(frame)),
            "missing_entries": float(missing.sum()),
            "holdout_entries": float(hidden.sum()),
        }
        if report is not None:
            metrics["imputation_rmse"] = report.overall
            run.call(mlflow.log_table, report.per_column, "imputation/per_column.json")
            run.call(mlflow.log_figure, report.figure(), "imputation/holdout.png")
        run.call(mlflow.log_metrics, metrics)
        if model is None:  # the fitted imputer, for `--model runs:/<run id>/imputer`
            run.call(log_imputer, imputer)
        run.finish()
    result.run_id, result.tracking_error = run.run_id, None if run.error is None else str(run.error)
    return result


INT64_EXACT = 2**53
"""Whole numbers up to this size pass through float64 exactly, so such a column may be written as int64."""


def completed_table(
    data: str,
    frame: pd.DataFrame,
    output: str,
    numeric: list[str],
    X: np.ndarray,
    missing: np.ndarray,
    completed: np.ndarray,
) -> tuple[pd.DataFrame, list[str]]:
    """The table to write: ``data`` as read with only its missing numbers filled in, and the whole-number columns
    among the filled ones.

    Observed values are never rewritten: a CSV is taken as text (each observed cell is written back as its
    bytes were; the filled cells get the imputed number, a whole number in a column of whole numbers), a Parquet or
    ``.npz`` table as its values. A filled whole-number column becomes int64 only when every value is exact in
    int64 (at most 2^53 in size); otherwise it keeps its type, rounded. CSV written to Parquet has the model's
    numeric columns as numbers and every other column as text, as ``score`` writes it."""
    from pipelines.tables import read_table, table_format

    as_text = table_format(data) == "csv"
    result = read_table(data, text=True) if as_text else frame.copy()
    rounded = []
    for j, col in enumerate(numeric):
        if not missing[:, j].any():
            continue  # nothing to fill: the column stays exactly as read
        observed, fill = X[~missing[:, j], j], completed[missing[:, j], j]
        whole = bool(np.array_equal(observed, np.round(observed)))
        if whole:
            fill = np.round(fill)
            rounded.append(col)
        if as_text:
            column = result[col].astype(object)
            column[missing[:, j]] = [str(int(v)) if whole else repr(float(v)) for v in fill]
            result[col] = column
        elif whole and np.all(np.abs(np.concatenate([observed, fill])) <= INT64_EXACT):
            values = X[:, j].copy()
            values[missing[:, j]] = fill
            result[col] = values.astype(np.int64)
        else:
            values = result[col].to_numpy(dtype=np.float64, copy=True)
            values[missing[:, j]] = fill
            result[col] = values
    if as_text and table_format(output) == "parquet":
        result = result.assign(**{c: pd.to_numeric(result[c]) for c in numeric})
    return result, rounded


def log_imputer(imputer) -> None:
    """The fitted imputer as the active run's ``imputer/`` artifact folder."""
    import tempfile

    import mlflow

    from anomaly_vae.persistence.imputer_persistence import save_imputer

    with tempfile.TemporaryDirectory() as tmp:
        mlflow.log_artifacts(str(save_imputer(imputer, Path(tmp) / "imputer")), IMPUTER_ARTIFACT)


@dataclass
class ErrorReport:
    """The imputation error on the held-out entries, in units of each column's standard deviation."""

    overall: float
    per_column: pd.DataFrame
    truth: np.ndarray
    guess: np.ndarray
    column_of: np.ndarray
    names: list[str]

    def figure(self):
        """True against imputed held-out values (standardised), one colour per column (the 10 with most entries)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5.5, 5))
        counts = np.bincount(self.column_of, minlength=len(self.names))
        for j in np.argsort(-counts)[:10]:
            pick = self.column_of == j
            if pick.any():
                ax.scatter(self.truth[pick], self.guess[pick], s=6, alpha=0.5, label=self.names[j])
        lo, hi = np.percentile(np.concatenate([self.truth, self.guess]), [0.5, 99.5])
        ax.plot([lo, hi], [lo, hi], color="black", linewidth=0.8)
        ax.set(
            xlabel="held-out value (standardised)",
            ylabel="imputed (standardised)",
            title=f"Imputation of held-out entries: RMSE {self.overall:.3f}",
        )
        ax.legend(fontsize=7, markerscale=2)
        fig.tight_layout()
        return fig


def error_report(X: np.ndarray, guess: np.ndarray, hidden: np.ndarray, names: list[str]) -> ErrorReport:
    scale = np.nanstd(np.where(hidden, np.nan, X), axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    rows, cols = np.nonzero(hidden)
    truth, guessed = X[rows, cols] / scale[cols], guess[rows, cols] / scale[cols]
    per = pd.DataFrame(
        {
            "column": names,
            "held_out": np.bincount(cols, minlength=len(names)),
            "rmse": [
                float(np.sqrt(np.mean((truth[cols == j] - guessed[cols == j]) ** 2)))
                if (cols == j).any()
                else float("nan")
                for j in range(len(names))
            ],
        }
    )
    return ErrorReport(float(np.sqrt(np.mean((truth - guessed) ** 2))), per, truth, guessed, cols, list(names))
