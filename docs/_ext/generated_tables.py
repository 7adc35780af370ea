"""Tables the docs generate rather than copy, so that they cannot drift from the code or the measurements.

- ``.. parameter-table:: table|images|series``: the detector's parameters, defaults and first sentences, read from
  the class docstring by ``pipelines.detector_options`` (the same source as ``anomaly-vae fit --help`` and the YAML
  keys), with the option each becomes and the pipeline's own default where it differs.
- ``.. benchmark-table:: NAME``: ``benchmarks/records/NAME.csv``, the table a benchmark run printed, written by
  ``benchmarks/records.py`` with the command that made it, its date, commit and machine (``NAME.json``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from docutils import nodes
from docutils.parsers.rst import Directive, directives

ROOT = Path(__file__).resolve().parents[2]
RECORDS = ROOT / "benchmarks" / "records"


def _table(header: list[str], rows: list[list[str]], widths: list[int] | None = None) -> nodes.table:
    """A docutils table of plain-text cells (inline literals where a cell is wrapped in backquotes)."""
    table = nodes.table(classes=["generated-table"])
    group = nodes.tgroup(cols=len(header))
    table += group
    for width in widths or [1] * len(header):
        group += nodes.colspec(colwidth=width)

    def row(cells: list[str]) -> nodes.row:
        out = nodes.row()
        for cell in cells:
            entry = nodes.entry()
            paragraph = nodes.paragraph()
            if cell.startswith("`") and cell.endswith("`") and len(cell) > 1:
                paragraph += nodes.literal(text=cell.strip("`"))
            else:
                paragraph += nodes.Text(cell)
            entry += paragraph
            out += entry
        return out

    head = nodes.thead()
    head += row(header)
    group += head
    body = nodes.tbody()
    for cells in rows:
        body += row(cells)
    group += body
    return table


class ParameterTable(Directive):
    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        from pipelines.detector_options import (
            PIPELINE_DEFAULTS,
            PIPELINE_ONLY,
            TABLE_PIPELINE_DEFAULTS,
            detector_parameters,
            flag,
            image_only_parameters,
            plain,
            series_only_parameters,
        )

        which = self.arguments[0]
        parameters = {
            "table": detector_parameters,
            "images": image_only_parameters,
            "series": series_only_parameters,
        }[which]()
        rows = []
        for p in parameters:
            pipeline = PIPELINE_DEFAULTS.get(p.name, TABLE_PIPELINE_DEFAULTS.get(p.name) if which == "table" else None)
            option = "(set by the pipeline)" if p.name in PIPELINE_ONLY else f"`{flag(p.name)}`"
            default = repr(p.default) + (f" (pipeline: {pipeline!r})" if pipeline is not None else "")
            rows.append([f"`{p.name}`", option, default, plain(p.summary)])
        return [_table(["parameter", "fit option", "default", "meaning"], rows, [3, 3, 3, 10])]


class BenchmarkTable(Directive):
    required_arguments = 1
    has_content = False
    option_spec = {"columns": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        name = self.arguments[0]
        csv, meta_file = RECORDS / f"{name}.csv", RECORDS / f"{name}.json"
        env = self.state.document.settings.env
        env.note_dependency(str(csv))
        env.note_dependency(str(meta_file))
        if not csv.exists() or not meta_file.exists():
            raise self.error(f"no benchmark record {name!r}: run the benchmark (it writes {csv} and {meta_file})")
        meta = json.loads(meta_file.read_text())
        frame = pd.read_csv(csv, dtype=str, keep_default_na=False)
        if "columns" in self.options:
            frame = frame[[c.strip() for c in self.options["columns"].split(",")]]
        out: list[nodes.Node] = []
        about = nodes.paragraph()
        about += nodes.Text(f"{meta['title']}. Run on {meta['date']} (commit {meta['commit']}, {meta['machine']}) by ")
        about += nodes.literal(text=meta["command"])
        about += nodes.Text(".")
        out.append(about)
        out.append(_table(list(frame.columns), frame.to_numpy().tolist()))
        if meta.get("note"):
            note = nodes.paragraph()
            note += nodes.Text(meta["note"])
            out.append(note)
        return out


def setup(app):
    app.add_directive("parameter-table", ParameterTable)
    app.add_directive("benchmark-table", BenchmarkTable)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
