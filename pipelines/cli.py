"""``anomaly-vae fit`` and ``anomaly-vae score``: typer commands over the pipelines.

Heavy imports (Keras, the backend, MLflow) happen inside the commands, so ``--help`` is instant.
Settings come from ``--config FILE.yaml``; flags given on the command line override the file.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import sys
import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer

from anomaly_vae.choices import SAMPLE_CODES
from pipelines.detector_options import IMAGES_PANEL, PANELS, SERIES_PANEL
from pipelines.output_rules import OVERWRITE_HELP
from pipelines.settings import DEFAULT_EXPERIMENT

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

app = typer.Typer(
    help="Anomaly detection with a VAE: fit on normal data, score new data, review in MLflow.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

DATA_PANEL, TRACKING_PANEL, TRAINING_PANEL = "Data", "Tracking and output", "Training"
"""``fit --help`` panels of the pipeline's own options (the detector's: ``pipelines.detector_options.PANELS``)."""

ConfigOpt = Annotated[Optional[Path], typer.Option("--config", "-c", help="YAML file of settings; flags override it.")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help=OVERWRITE_HELP)]
TRACKING_HELP = "MLflow tracking URI (default: $MLFLOW_TRACKING_URI or sqlite:///mlflow.db)"
TrackingOpt = Annotated[Optional[str], typer.Option(help=TRACKING_HELP)]
ExperimentOpt = Annotated[
    Optional[str], typer.Option(metavar="NAME", help=f"MLflow experiment (default: {DEFAULT_EXPERIMENT}).")
]
RunNameOpt = Annotated[
    Optional[str],
    typer.Option(metavar="NAME", help="MLflow run name (default: <command> · <modality> · <data file>)."),
]

EXIT_BAD_INPUT = 2
EXIT_TRACKING = 3
EXIT_DIVERGED = 4
EXIT_INTERRUPTED = 130

_show_warning = warnings.showwarning


def _print_version(value: bool) -> None:
    if value:
        from anomaly_vae import __version__

        typer.echo(f"anomaly-vae {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        Optional[bool],
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = None,
) -> None:
    """Anomaly detection with a VAE: fit on normal data, score new data, review in MLflow."""


def _echo_review_link(run_id: str) -> None:
    """Print where the run opens in the MLflow UI (best effort: a store that just failed is not asked twice)."""
    from pipelines.tracking.run_identity import review_link

    try:
        typer.echo(f"review: {review_link(run_id)}")
    except Exception:  # the link is a convenience; the run id above is what matters
        pass


def _fail(message: str, code: int) -> None:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code)


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    """Our calibration warnings as one ``warning:`` line, not Python's file-and-line report."""
    from anomaly_vae.decisions.p_values import CalibrationWarning

    if issubclass(category, CalibrationWarning):
        print(f"warning: {message}", file=file or sys.stderr)
    else:
        _show_warning(message, category, filename, lineno, file, line)


@contextlib.contextmanager
def user_errors():
    """Map what goes wrong for a user to one line and an exit code (README, "Trust and safety"), never a traceback."""
    from mlflow.exceptions import MlflowException

    from pipelines.tracking.mlflow_runs import TrackingError

    warnings.showwarning = _one_line_warning
    try:
        yield
    except typer.Exit:
        raise
    except TrackingError as err:
        _fail(str(err), EXIT_TRACKING)
    except MlflowException as err:
        _fail(f"MLflow failed: {str(err).splitlines()[0] if str(err) else type(err).__name__}", EXIT_TRACKING)
    except (ValueError, OSError) as err:  # bad input: files, columns, settings, model folders
        from pipelines.settings import flag_names  # a detector's refusal of a setting names its flag

        _fail(flag_names(str(err)) if isinstance(err, ValueError) else f"{type(err).__name__}: {err}", EXIT_BAD_INPUT)
    except MemoryError:
        _fail(
            "out of memory: the data or the settings ask for more memory than this machine has (use smaller "
            "inputs, a smaller --batch-size or --chunk-rows).",
            EXIT_BAD_INPUT,
        )
    except RecursionError:
        _fail("an input nests too deeply to read (a document or a file of nested structures).", EXIT_BAD_INPUT)


@contextlib.contextmanager
def stopped_cleanly(what: str, output: str):
    """Ctrl-C or SIGTERM during ``what``: one line saying nothing was written, exit 130 (the writers remove their
    temporaries as the interrupt unwinds)."""
    from pipelines.interrupts import terminate_as_interrupt

    try:
        with terminate_as_interrupt():
            yield
    except KeyboardInterrupt as err:
        received = f"{err.args[0]} received" if err.args else "interrupted"
        _fail(
            f"{what} stopped ({received}); nothing was written to {output!r} (an existing file is unchanged).",
            EXIT_INTERRUPTED,
        )


def _fit_pipeline_options(
    data: Annotated[
        Optional[str],
        typer.Argument(
            metavar="DATA",
            help="Training data: a table (.csv, .parquet, or .npz with 2-D X and optional y) or images (a folder of PNG/JPEG, flat or MVTec-style train/good + test/<kind>, or an .npz with 3-D/4-D X), or a time series (a table, with --time-column and/or --window); the modality is detected and printed.",
        ),
    ] = None,
    config: Annotated[
        Optional[Path],
        typer.Option(
            "--config",
            "-c",
            metavar="FILE",
            rich_help_panel=DATA_PANEL,
            help="YAML file of settings; flags override it.",
        ),
    ] = None,
    label_column: Annotated[
        Optional[str],
        typer.Option(metavar="COLUMN", rich_help_panel=DATA_PANEL, help="Column with 0 = normal, 1 = anomaly."),
    ] = None,
    normal_only: Annotated[
        Optional[bool],
        typer.Option(rich_help_panel=DATA_PANEL, help="Train only on rows labelled normal (when a label is given)."),
    ] = None,
    drop_column: Annotated[
        Optional[list[str]],
        typer.Option(metavar="COLUMN", rich_help_panel=DATA_PANEL, help="Column to ignore; repeat for several."),
    ] = None,
    categorical: Annotated[
        Optional[list[str]],
        typer.Option(
            metavar="COLUMN",
            rich_help_panel=DATA_PANEL,
            help="Categorical column; repeat. Default: inferred from dtype.",
        ),
    ] = None,
    categorical_likelihood: Annotated[
        Optional[bool],
        typer.Option(
            rich_help_panel=DATA_PANEL,
            help="Model one-hot categorical columns with a categorical (softmax) likelihood rather than as numbers.",
        ),
    ] = None,
    eval_data: Annotated[
        Optional[str],
        typer.Option(metavar="FILE", rich_help_panel=DATA_PANEL, help="Labelled table for ROC-AUC, AP and plots."),
    ] = None,
    output_dir: Annotated[
        Optional[str],
        typer.Option(
            metavar="FOLDER", rich_help_panel=TRACKING_PANEL, help="Where the local copy of the model is saved."
        ),
    ] = None,
    tracking_uri: Annotated[
        Optional[str], typer.Option(metavar="URI", rich_help_panel=TRACKING_PANEL, help=TRACKING_HELP)
    ] = None,
    experiment: Annotated[
        Optional[str],
        typer.Option(
            metavar="NAME", rich_help_panel=TRACKING_PANEL, help=f"MLflow experiment (default: {DEFAULT_EXPERIMENT})."
        ),
    ] = None,
    run_name: Annotated[
        Optional[str],
        typer.Option(
            metavar="NAME",
            rich_help_panel=TRACKING_PANEL,
            help="MLflow run name (and the local model folder's) (default: fit · <modality> · <data file>).",
        ),
    ] = None,
    register: Annotated[
        Optional[str],
        typer.Option(metavar="NAME", rich_help_panel=TRACKING_PANEL, help="Register the model under this name."),
    ] = None,
    alias: Annotated[
        Optional[str],
        typer.Option(
            metavar="ALIAS", rich_help_panel=TRACKING_PANEL, help="Alias for the registered version, e.g. champion."
        ),
    ] = None,
    resume: Annotated[
        Optional[bool],
        typer.Option(
            "--resume",
            rich_help_panel=TRAINING_PANEL,
            help="Continue an interrupted fit from its checkpoint, logging into the same run.",
        ),
    ] = None,
    checkpoint_dir: Annotated[
        Optional[str],
        typer.Option(
            metavar="FOLDER",
            rich_help_panel=TRAINING_PANEL,
            help="Per-epoch checkpoint folder (default: a new one under OUTPUT_DIR/checkpoints); with --resume, the one to continue.",
        ),
    ] = None,
) -> None:
    """The fit command's own options; the detector's are added from its signature (``fit.__signature__``)."""


def fit(**options) -> None:
    """Fit a detector on normal data (a table, images or a time series), set its threshold, log the run and the model to MLflow."""
    from pipelines.detector_options import parse_option, setting_names

    flags = dict(options)
    config = flags.pop("config")
    flags["drop_columns"] = flags.pop("drop_column") or None
    flags["categorical_columns"] = flags.pop("categorical") or None
    for name in setting_names():
        if flags.get(name) is not None:
            flags[name] = parse_option(name, flags[name])
    from pipelines.fit import TrainingInterrupted, run_fit
    from pipelines.settings import FitSettings, load_settings

    with user_errors():
        try:
            settings = load_settings(FitSettings, config, flags)
            result = run_fit(settings)
        except TrainingInterrupted as err:
            _fail(str(err), EXIT_INTERRUPTED)
        except FloatingPointError as err:  # anomaly_vae.network.callbacks.TrainingDivergedError
            _fail(str(err), EXIT_DIVERGED)
        except KeyboardInterrupt:  # before training started or after it ended: nothing to resume
            _fail("fit interrupted before training; nothing was saved.", EXIT_INTERRUPTED)
    typer.echo(f"threshold: {result.threshold:.4f}")
    for key in ("eval_roc_auc", "eval_average_precision", "eval_anomaly_rate"):
        if key in result.metrics:
            typer.echo(f"{key}: {result.metrics[key]:.4f}")
    typer.echo(f"local model: {result.local_model}")
    if result.tracking_error:
        _fail(
            f"MLflow tracking failed ({result.tracking_error}). The trained model and its threshold are saved "
            f"at {result.local_model}; score with `anomaly-vae score {result.local_model} DATA OUTPUT`.",
            EXIT_TRACKING,
        )
    typer.echo(f"run id: {result.run_id}")
    if result.run_id:
        _echo_review_link(result.run_id)
    typer.echo(f"model uri: {result.model_uri}")
    if result.registered_version:
        typer.echo(
            f"registered: models:/{settings.register}/{result.registered_version}"
            + (f" (alias @{settings.alias})" if settings.alias else "")
        )


def _detector_options() -> list[inspect.Parameter]:
    """One ``--name`` option per detector parameter, its help from the detector's docstring."""
    from pipelines.detector_options import (
        PIPELINE_ONLY,
        detector_parameters,
        image_only_parameters,
        series_only_parameters,
    )

    def option(p, panel):
        return inspect.Parameter(
            p.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=Annotated[Optional[str], typer.Option(help=p.help, metavar=p.metavar, rich_help_panel=panel)],
        )

    return (
        [option(p, p.panel) for p in detector_parameters() if p.name not in PIPELINE_ONLY]
        + [option(p, IMAGES_PANEL) for p in image_only_parameters()]
        + [option(p, SERIES_PANEL) for p in series_only_parameters()]
    )


PANEL_ORDER = (DATA_PANEL, *PANELS, IMAGES_PANEL, SERIES_PANEL, TRACKING_PANEL)
"""The order of ``fit --help``'s panels (typer shows them in the order of their first option)."""


def _panel_rank(parameter: inspect.Parameter) -> int:
    info = next((m for m in getattr(parameter.annotation, "__metadata__", ()) if hasattr(m, "rich_help_panel")), None)
    panel = getattr(info, "rich_help_panel", None)
    return PANEL_ORDER.index(panel) if panel in PANEL_ORDER else -1  # the DATA argument first


fit.__signature__ = inspect.Signature(  # type: ignore[attr-defined]  # typer reads it
    sorted(
        [
            p if p.name == "data" else p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
            for p in (
                *inspect.signature(_fit_pipeline_options, eval_str=True).parameters.values(),
                *_detector_options(),
            )
        ],
        key=_panel_rank,
    )
)
app.command()(fit)


@app.command()
def score(
    model_uri: Annotated[
        Optional[str], typer.Argument(help="runs:/ID/model, models:/NAME@ALIAS, or a local model folder.")
    ] = None,
    data: Annotated[
        Optional[str],
        typer.Argument(
            help="Table to score (.csv, .parquet or .npz), or for an image model a folder of PNG/JPEG or an .npz of images."
        ),
    ] = None,
    output: Annotated[Optional[str], typer.Argument(help="Output .csv or .parquet (written atomically).")] = None,
    config: ConfigOpt = None,
    chunk_rows: Annotated[Optional[int], typer.Option(help="Rows per chunk; memory stays bounded.")] = None,
    tracking_uri: TrackingOpt = None,
    experiment: ExperimentOpt = None,
    run_name: RunNameOpt = None,
    log_run: Annotated[Optional[bool], typer.Option(help="Log a scoring run to MLflow.")] = None,
    engine: Annotated[
        Optional[str],
        typer.Option(
            help="local (this process, in chunks) or spark (MLflow's spark_udf; OUTPUT is a new folder of Parquet parts)."
        ),
    ] = None,
    spark_master: Annotated[
        Optional[str], typer.Option(help="Spark master URL for --engine spark (default: local[*]).")
    ] = None,
    maps: Annotated[
        Optional[str], typer.Option(help="Image models: write each image's anomaly map as a PNG into this new folder.")
    ] = None,
    fdr: Annotated[
        Optional[float],
        typer.Option(
            help="Flag rows by Benjamini-Hochberg on their p-values at this false-discovery rate (e.g. 0.05: on average at most 5% of the flagged rows are normal) instead of by the threshold."
        ),
    ] = None,
    recalibrate: Annotated[
        Optional[str],
        typer.Option(
            help="Table (or images) of fresh normal rows: re-fit the threshold and p-values on them without retraining, save and log the result as a new model version, then score."
        ),
    ] = None,
    overwrite: Annotated[Optional[bool], typer.Option("--overwrite", help=OVERWRITE_HELP)] = None,
) -> None:
    """Score data (a table, images or a time series) with a fitted model; write its rows plus anomaly_score, p_value
    and is_anomaly (and top_features for a table; for a series, one row per time point)."""
    flags = dict(locals())
    flags.pop("config")
    from pipelines.score import run_score
    from pipelines.settings import ScoreSettings, load_settings

    with user_errors():
        try:
            settings = load_settings(ScoreSettings, config, flags)
            if settings.engine == "spark":
                from pipelines.spark_score import run_spark_score

                spark = run_spark_score(settings)
                typer.echo(
                    f"scored {spark.rows} rows with Spark -> {spark.output} (anomaly rate {spark.anomaly_rate:.2%})"
                )
                if spark.tracking_error:
                    _fail(
                        f"the scores are written to {spark.output}, but MLflow logging failed: {spark.tracking_error}",
                        EXIT_TRACKING,
                    )
                if spark.run_id:
                    typer.echo(f"run id: {spark.run_id}")
                return
            if settings.engine != "local":
                raise ValueError(f"--engine must be local or spark; got {settings.engine!r}.")
            result = run_score(settings)
        except KeyboardInterrupt as err:
            what = f"{err.args[0]} received" if err.args else "interrupted"
            _fail(
                f"scoring stopped ({what}); nothing was written to {output or 'OUTPUT'!r} (an existing file is unchanged).",
                EXIT_INTERRUPTED,
            )
    typer.echo(f"scored {result.rows} rows -> {result.output} (anomaly rate {result.anomaly_rate:.2%})")
    if result.unknown_categories:
        typer.echo(f"unseen categories: {result.unknown_categories}")
    if result.tracking_error:
        _fail(
            f"the scores are written to {result.output}, but MLflow logging failed: {result.tracking_error}",
            EXIT_TRACKING,
        )
    if result.run_id:
        typer.echo(f"run id: {result.run_id}")
        _echo_review_link(result.run_id)
    if result.recalibrated_model:
        typer.echo(f"recalibrated model: {result.recalibrated_model}")
    if result.recalibrated_uri:
        typer.echo(f"recalibrated model uri: {result.recalibrated_uri}")
    if result.registered:
        typer.echo(f"registered: {result.registered}")


@app.command()
def sample(
    model_uri: Annotated[str, typer.Argument(help="runs:/ID/model, models:/NAME@ALIAS, or a local model folder.")],
    n: Annotated[int, typer.Argument(help="How many rows (or images) to draw.")],
    output: Annotated[
        str,
        typer.Argument(
            help="A table model: a .csv or .parquet file; an image model: a new folder of PNGs (written atomically)."
        ),
    ],
    seed: Annotated[Optional[int], typer.Option(help="Seeds the draws; the same seed gives the same samples.")] = 0,
    noise: Annotated[
        bool,
        typer.Option(
            help="One draw of the likelihood per code (--no-noise: the decoder's mean, which shows image samples' shapes best)."
        ),
    ] = True,
    codes: Annotated[
        str,
        typer.Option(
            help=f"Where latent codes come from: {' or '.join(SAMPLE_CODES)} ('aggregate': a Gaussian mixture fitted to the training examples' codes; 'prior': N(0, I))."
        ),
    ] = SAMPLE_CODES[0],
    tracking_uri: TrackingOpt = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Draw new rows (or images) from a model: latent codes where the training codes lie, decoded, one likelihood
    draw each."""
    from pipelines.sample import run_sample

    with user_errors(), stopped_cleanly("sampling", output):
        result = run_sample(
            model_uri,
            n,
            output,
            random_state=seed,
            tracking_uri=tracking_uri,
            noise=noise,
            codes=codes,
            overwrite=overwrite,
        )
    typer.echo(f"sampled {result.n} {result.kind} -> {result.output}")


@app.command()
def impute(
    data: Annotated[str, typer.Argument(help="Table with missing values (.csv, .parquet or .npz).")],
    output: Annotated[str, typer.Argument(help="The completed table, .csv or .parquet (written atomically).")],
    holdout: Annotated[
        float,
        typer.Option(
            help="Share of the observed numbers hidden from the imputer to measure its error (logged as imputation_rmse)."
        ),
    ] = 0.1,
    seed: Annotated[int, typer.Option(help="Seeds the held-out entries, the training and the importance draws.")] = 0,
    ignore_column: Annotated[
        Optional[list[str]],
        typer.Option(
            help="Column kept as it is and out of the imputation (an identifier, a label); repeat for several."
        ),
    ] = None,
    epochs: Annotated[
        Optional[str], typer.Option(help="VAEImputer's epochs (an integer, or auto) (default: auto).")
    ] = None,
    tracking_uri: TrackingOpt = None,
    experiment: ExperimentOpt = None,
    run_name: RunNameOpt = None,
    log_run: Annotated[bool, typer.Option(help="Log an imputation run to MLflow.")] = True,
    model: Annotated[
        Optional[str],
        typer.Option(
            help="Impute with a saved imputer instead of fitting one: a --save-model folder, or runs:/RUN_ID/imputer."
        ),
    ] = None,
    save_model: Annotated[
        Optional[str], typer.Option(help="Write the fitted imputer to this new folder (for --model later).")
    ] = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Fill a table's missing numbers with a VAE fitted on the table itself (VAEImputer), or a saved one (--model);
    other columns are kept."""
    from pipelines.impute import run_impute

    params = {} if epochs is None else {"epochs": epochs if epochs == "auto" else _positive_int("--epochs", epochs)}
    with user_errors(), stopped_cleanly("imputation", output):
        result = run_impute(
            data,
            output,
            holdout=holdout,
            seed=seed,
            params=params,
            ignore=ignore_column,
            tracking_uri=tracking_uri,
            experiment=experiment,
            run_name=run_name,
            log_run=log_run,
            model=model,
            save_model=save_model,
            overwrite=overwrite,
        )
    error = "" if result.rmse is None else f"; held-out RMSE {result.rmse:.3f} (column standard deviations)"
    typer.echo(
        f"imputed {result.imputed} missing values in {len(result.columns)} numeric column(s) of {result.rows} "
        f"rows -> {result.output}{error}"
    )
    if result.rounded:
        typer.echo(f"whole-number columns, imputed as whole numbers: {', '.join(result.rounded)}")
    if result.left_missing:
        typer.echo(
            "left missing (not numeric; VAEImputer fills numbers only): "
            + ", ".join(f"{c} ({n})" for c, n in result.left_missing.items())
        )
    if result.tracking_error:
        _fail(
            f"the completed table is written to {result.output}, but MLflow logging failed: {result.tracking_error}",
            EXIT_TRACKING,
        )
    if result.run_id:
        typer.echo(f"run id: {result.run_id}")


def _positive_int(flag: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        _fail(f"{flag} must be a positive integer or auto, got {text!r}.", EXIT_BAD_INPUT)
    return value


def _unwrap_command_help() -> None:
    """Each command's help is its docstring with the source's line breaks inside a paragraph removed: typer's rich
    help keeps them, which broke sentences mid-line at any terminal width."""
    for command in app.registered_commands:
        doc = inspect.getdoc(command.callback) or ""
        command.help = "\n\n".join(" ".join(paragraph.split()) for paragraph in doc.split("\n\n"))


_unwrap_command_help()

if __name__ == "__main__":
    sys.exit(app())
