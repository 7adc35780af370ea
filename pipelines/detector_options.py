"""``VAEAnomalyDetector``'s parameters as pipeline settings and command-line options, derived from the class.

The detector's ``__init__`` signature is the one list of parameters and its docstring the one
description of each: the fit pipeline's settings (YAML keys), the ``anomaly-vae fit`` options and their
help are built from them here, so a new parameter is reachable everywhere without being written again.
They are read from the source with ``ast`` rather than by importing the class, which would import
Keras and make ``anomaly-vae --help`` slow; values are checked by the class's own
``_parameter_constraints`` when a fit starts (:func:`pipelines.settings.check_detector_params`).
"""

from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

PIPELINE_ONLY = {
    "categorical_groups": "the fit pipeline passes its one-hot groups itself",
    "contamination": "the fit pipeline sets the threshold with --threshold and --target-fpr",
    "missing": "the fit pipeline imputes missing values and flags them with indicator columns (pipelines/modalities/table/preprocessing.py)",
}
"""Detector parameters the fit pipeline sets itself, and why; every other one is a setting and an option."""

PIPELINE_DEFAULTS = {"random_state": 0, "verbose": 1, "calibration_fraction": 0.1}
"""Where the pipeline's default differs from the detector's: runs are seeded, say what they do, and hold out
calibration rows that neither trained the network nor chose its epoch, for the p-values they write."""


TABLE_PIPELINE_DEFAULTS = {"n_members": 3}
"""Where the table pipeline's default differs from the detector's (images have no members; series keep their
detector's ``'auto'``, three dense members): three members averaged cut the seed-to-seed spread of a fit's AP on
the mixed-type benchmark from 0.017 to 0.006 (sd over three seeds) and raised its mean (0.486 -> 0.495 AP, 0.819 ->
0.827 ROC-AUC), for about 10% more time in the fit command (the members train in one network) and 20% more in
scoring (benchmarks/RESULTS.md, "Mixed-type tables").
The Python default stays 1, where the time to first result matters more."""

IMAGES_PANEL, SERIES_PANEL = "Images", "Series (with --time-column and/or --window)"
"""``fit --help`` panels of the image-only and series-only parameters."""

PANELS = {
    "Model": (
        "latent_dim",
        "hidden_units",
        "beta",
        "likelihood",
        "activation",
        "n_members",
        "preprocessing",
        "corruption_noise",
        "corruption_mask",
        "precision",
    ),
    "Training": (
        "epochs",
        "batch_size",
        "learning_rate",
        "validation_fraction",
        "patience",
        "kl_warmup",
        "data_parallel",
        "random_state",
        "verbose",
    ),
    "Threshold and calibration": ("score_rule", "n_samples", "threshold", "target_fpr", "calibration_fraction"),
}
"""The ``fit --help`` panel of each tabular detector parameter (image-only and series-only parameters have their
own panels, ``IMAGES_PANEL`` and ``SERIES_PANEL``); a parameter in no panel is shown under "Model"."""

_ROLE = re.compile(r":(?:\w+:)+`~?(?:[^`<]*<)?([^`>]+)>?`")


def plain(text: str) -> str:
    """Docstring text as a terminal shows it: Sphinx roles (``:class:`~a.B```) become their target's last name,
    double backquotes are dropped."""
    return _ROLE.sub(lambda m: m.group(1).rsplit(".", 1)[-1], text).replace("``", "")


@dataclass(frozen=True)
class DetectorParameter:
    name: str
    default: Any
    kind: str  # the docstring's type line, e.g. '{"float32", "mixed_bfloat16"}, default="float32"'
    summary: str  # the docstring's first sentence about it

    @property
    def help(self) -> str:
        """The option's help: the docstring's first sentence, the choices (from
        :data:`anomaly_vae.choices.PARAMETER_CHOICES` where the value is a name) and the default."""
        from anomaly_vae.choices import PARAMETER_CHOICES, SERIES_PARAMETER_CHOICES

        kind = self.kind
        choices = {**PARAMETER_CHOICES, **SERIES_PARAMETER_CHOICES}
        if self.name in choices:
            kind = f"one of {', '.join(choices[self.name])}; default {self.default}"
        if self.name in PIPELINE_DEFAULTS:
            kind += f"; the pipeline's default: {PIPELINE_DEFAULTS[self.name]}"
        if self.name in TABLE_PIPELINE_DEFAULTS:
            kind += f"; the table pipeline's default: {TABLE_PIPELINE_DEFAULTS[self.name]}"
        for modality, defaults in modality_defaults().items():
            if self.name in defaults and defaults[self.name] != self.default:
                kind += f"; {modality}: {_shown(defaults[self.name])}"
        return plain(f"{self.summary} ({kind})")

    @property
    def metavar(self) -> str:
        """What the option takes, from the docstring's type line: its choices, or ``INTEGER``, ``FLOAT``,
        ``INTEGERS`` (comma-separated), ``BOOLEAN`` or ``TEXT``, with the words it also accepts (``auto``, ``none``)."""
        from anomaly_vae.choices import PARAMETER_CHOICES, SERIES_PARAMETER_CHOICES

        choices = {**PARAMETER_CHOICES, **SERIES_PARAMETER_CHOICES}
        if self.name in choices:
            return "[" + "|".join(choices[self.name]) + "]"
        kind = self.kind.split(", default")[0]
        words = (["auto"] if '"auto"' in kind else []) + (["none"] if "None" in kind else [])
        if kind.startswith(("tuple of int", "list of int")):
            base = "INTEGERS"
        elif kind.startswith("int"):
            base = "INTEGER"
        elif kind.startswith(("float", '"auto" or float')):
            base = "FLOAT"
        elif kind.startswith("bool"):
            base = "BOOLEAN"
        else:
            base = "TEXT"
        return "|".join([base, *words])

    @property
    def panel(self) -> str:
        return next((name for name, members in PANELS.items() if self.name in members), "Model")


@functools.lru_cache(maxsize=1)
def detector_parameters() -> tuple[DetectorParameter, ...]:
    """The keyword parameters of ``VAEAnomalyDetector.__init__`` with their docstring entries."""
    return _class_parameters("detectors/table_detector.py", "VAEAnomalyDetector")


@functools.lru_cache(maxsize=1)
def image_only_parameters() -> tuple[DetectorParameter, ...]:
    """``VAEImageDetector`` parameters the tabular detector does not have (its options say "Images:")."""
    tabular = {p.name for p in detector_parameters()}
    return tuple(
        p for p in _class_parameters("detectors/image_detector.py", "VAEImageDetector") if p.name not in tabular
    )


@functools.lru_cache(maxsize=1)
def series_only_parameters() -> tuple[DetectorParameter, ...]:
    """``VAESeriesDetector`` parameters neither other detector has (its options say "Series:"); setting
    ``time_column`` or ``window`` makes the fit pipeline read its data as a time series."""
    others = {p.name for p in (*detector_parameters(), *image_only_parameters())}
    return tuple(
        p for p in _class_parameters("detectors/series_detector.py", "VAESeriesDetector") if p.name not in others
    )


@functools.lru_cache(maxsize=1)
def modality_defaults() -> dict[str, dict[str, Any]]:
    """Each other detector's defaults, by the modality an option's help names them with: where the image or the series
    detector's default differs from the one an option shows, its help says so (``--beta``: "images: 1.0")."""
    return {
        "images": {p.name: p.default for p in _class_parameters("detectors/image_detector.py", "VAEImageDetector")},
        "time series": {
            p.name: p.default for p in _class_parameters("detectors/series_detector.py", "VAESeriesDetector")
        },
    }


def _shown(value: Any) -> str:
    """A default as the help shows it: ``None`` and tuples as Python writes them, strings bare."""
    return value if isinstance(value, str) else repr(value)


@functools.lru_cache(maxsize=None)
def _class_parameters(file_name: str, class_name: str) -> tuple[DetectorParameter, ...]:
    spec = find_spec("anomaly_vae")
    assert spec is not None and spec.submodule_search_locations  # the package this module belongs beside
    source = Path(spec.submodule_search_locations[0]) / file_name
    tree = ast.parse(source.read_text(encoding="utf-8"))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name)
    init = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    docs = _parameter_docs(ast.get_docstring(cls) or "")
    out = []
    for arg, default in zip(init.args.kwonlyargs, init.args.kw_defaults):
        kind, summary = docs.get(arg.arg, ("", ""))
        if default is None:  # a keyword-only parameter without a default: none of ours has one
            raise TypeError(f"{class_name}.__init__ parameter {arg.arg!r} has no default.")
        out.append(DetectorParameter(arg.arg, ast.literal_eval(default), kind, summary))
    return tuple(out)


def _parameter_docs(docstring: str) -> dict[str, tuple[str, str]]:
    """numpydoc ``Parameters`` entries: name -> (type line, first sentence of the description)."""
    section = docstring.split(
        "Parameters\n    ----------\n" if "    ----------" in docstring else "Parameters\n----------\n", 1
    )
    body = section[1] if len(section) == 2 else ""
    body = re.split(r"\n\s*\n\s*Attributes\n", body, maxsplit=1)[0]
    docs: dict[str, tuple[str, str]] = {}
    name: str | None = None
    kind = ""
    lines: list[str] = []
    for line in body.splitlines():
        match = re.match(r"^(\w+) : (.*)$", line.strip()) if not line.startswith("        ") else None
        if match:
            if name:
                docs[name] = (kind, _first_sentence(lines))
            name, kind, lines = match.group(1), match.group(2), []
        elif name:
            lines.append(line.strip())
    if name:
        docs[name] = (kind, _first_sentence(lines))
    return docs


def _first_sentence(lines: list[str]) -> str:
    text = " ".join(line for line in lines if line)
    match = re.match(r"(.+?\.)(\s|$)", text)
    return match.group(1) if match else text


def setting_names() -> list[str]:
    """Detector parameters (of any detector) that are fit settings and ``anomaly-vae fit`` options."""
    return [
        p.name
        for p in (*detector_parameters(), *image_only_parameters(), *series_only_parameters())
        if p.name not in PIPELINE_ONLY
    ]


def parse_option(name: str, text: str) -> Any:
    """A command-line value as YAML would read it: ``8`` an int, ``1e-3`` a float, ``auto`` a string,
    ``none`` None, and ``64,32`` a list of integers (as is ``64`` for a sequence parameter)."""
    import yaml

    if text.strip().lower() in ("none", "null"):
        return None
    if re.fullmatch(r"\s*-?\d+(\s*,\s*-?\d+)+\s*,?\s*", text):
        return [int(t) for t in text.split(",") if t.strip()]
    for number in (int, float):
        try:
            value = number(text)
            sequence = next(
                (
                    p.kind.startswith(("tuple", "list"))
                    for p in (*detector_parameters(), *image_only_parameters(), *series_only_parameters())
                    if p.name == name
                ),
                False,
            )
            return [value] if sequence and number is int else value
        except ValueError:
            pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def flag(field_name: str) -> str:
    """The command-line flag of a settings field (``target_fpr`` is ``--target-fpr``)."""
    return "--" + field_name.replace("_", "-")
