"""Every detector parameter is reachable from ``anomaly-vae fit`` and the YAML settings, described once."""

import inspect

import pytest
import typer

from anomaly_vae import VAEAnomalyDetector
from anomaly_vae.choices import PARAMETER_CHOICES
from pipelines.cli import app
from pipelines.detector_options import PIPELINE_ONLY, detector_parameters, parse_option, setting_names
from pipelines.settings import FitSettings, flag, load_settings


def test_the_parameters_read_from_source_are_the_detectors_own():
    signature = inspect.signature(VAEAnomalyDetector)
    assert [p.name for p in detector_parameters()] == list(signature.parameters)
    for p in detector_parameters():
        assert p.default == signature.parameters[p.name].default, p.name
        assert p.summary and p.kind, f"{p.name} has no entry in the class docstring"


def fit_options() -> dict[str, str]:
    """``anomaly-vae fit``'s options as click sees them: flag -> help."""
    command = typer.main.get_command(app).commands["fit"]  # type: ignore[attr-defined]  # the app is a group
    return {opt: param.help or "" for param in command.params for opt in param.opts}


def test_every_detector_parameter_is_an_option_and_a_yaml_setting(tmp_path):
    options = fit_options()
    reachable = set(setting_names())
    from anomaly_vae import VAEImageDetector, VAESeriesDetector

    series = VAESeriesDetector().get_params()
    defaults = {**series, **VAEImageDetector().get_params(), **VAEAnomalyDetector().get_params()}
    assert reachable | set(PIPELINE_ONLY) == set(defaults)
    for name in reachable:
        assert flag(name) in options, name
        config = tmp_path / f"{name}.yaml"
        default = defaults[name]
        config.write_text(f"data: x.csv\n{name}: {'none' if default is None else default}\n")
        settings = load_settings(FitSettings, config, {})
        assert name in settings.detector_params() or default is None and getattr(settings, name) == "none"


def test_choice_help_comes_from_the_constants_the_detector_checks():
    constraints = VAEAnomalyDetector._parameter_constraints
    options = fit_options()
    for name, choices in PARAMETER_CHOICES.items():
        assert constraints[name][0].options == set(choices)
        assert f"one of {', '.join(choices)}" in options[flag(name)], name
    from anomaly_vae import VAESeriesDetector
    from anomaly_vae.choices import SERIES_PARAMETER_CHOICES

    for name, choices in SERIES_PARAMETER_CHOICES.items():
        assert VAESeriesDetector._parameter_constraints[name][0].options == set(choices)
        assert f"one of {', '.join(choices)}" in options[flag(name)], name


def test_an_option_help_names_the_other_detectors_defaults_where_they_differ():
    from anomaly_vae import VAEImageDetector, VAESeriesDetector
    from pipelines.settings import check_detector_params

    options = fit_options()
    table, images, series = VAEAnomalyDetector(), VAEImageDetector(), VAESeriesDetector()
    assert images.beta != table.beta != series.beta  # else this test checks nothing
    assert f"images: {images.beta!r}; time series: {series.beta!r})" in options["--beta"]
    assert f"time series: {series.n_members})" in options["--n-members"] and "images:" not in options["--n-members"]
    assert "images:" not in options["--activation"] and "time series:" not in options["--activation"]
    # a value only the series detector takes passes the early check; one no detector takes is refused by its flag
    check_detector_params({"n_members": "auto"})
    with pytest.raises(ValueError, match="^--n-members must be an int"):
        check_detector_params({"n_members": 0})


@pytest.mark.parametrize(
    "name, text, value",
    [
        ("hidden_units", "64,32", [64, 32]),
        ("hidden_units", "64", [64]),
        ("epochs", "auto", "auto"),
        ("learning_rate", "1e-3", 1e-3),
        ("patience", "none", None),
        ("latent_dim", "8", 8),
        ("activation", "tanh", "tanh"),
    ],
)
def test_option_values_are_read_as_yaml_would(name, text, value):
    assert parse_option(name, text) == value


def test_preprocessing_reaches_the_detector_from_yaml(tmp_path):
    config = tmp_path / "fit.yaml"
    config.write_text("data: x.csv\npreprocessing: robust\n")
    settings = load_settings(FitSettings, config, {"hidden_units": [8]})
    assert settings.detector_params()["preprocessing"] == "robust"
    assert settings.detector_params()["hidden_units"] == (8,)


def test_a_renamed_setting_names_its_new_name(tmp_path):
    config = tmp_path / "fit.yaml"
    config.write_text("data: x.csv\nthreshold_fpr: 0.05\n")
    with pytest.raises(ValueError, match="'threshold_fpr' .* is now 'target_fpr' \\(--target-fpr\\)"):
        load_settings(FitSettings, config, {})


def test_each_guide_page_shows_its_generated_parameter_table():
    """The parameter tables are generated from the classes (docs/_ext/generated_tables.py), so they list every
    parameter; each modality's guide page must show its own."""
    from pathlib import Path

    guide = Path(__file__).resolve().parents[1] / "docs" / "user_guide"
    for page, which in (("tables.md", "table"), ("images.md", "images"), ("series.md", "series")):
        assert f"```{{parameter-table}} {which}\n```" in (guide / page).read_text(), page
