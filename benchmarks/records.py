"""The tables benchmarks print, kept as records that the documentation renders (``docs/benchmarks.md``).

``write_record(name, table, title)`` writes ``benchmarks/records/NAME.csv`` (the table as printed, numbers rounded
for reading) and ``NAME.json`` (the title, the command that made it, the date, the commit and the machine), both
atomically. The records are committed: the docs' benchmark tables are generated from them, never copied by hand, and
a rerun replaces them. Raw per-run results stay in ``benchmarks/results/`` (not committed).
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
from datetime import date
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from anomaly_vae.persistence.atomic import atomic_file  # noqa: E402

RECORDS = ROOT / "benchmarks" / "records"


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
        ).stdout.strip()
        return out + ("+changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _machine() -> str:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{platform.machine()}, {cores} cores, Python {platform.python_version()}"


def write_record(name: str, table: pd.DataFrame, title: str, note: str = "", digits: int = 3) -> Path:
    """Write ``table`` (index included when named) as the record ``name``; returns the CSV's path."""
    if table.index.name is not None or isinstance(table.index, pd.MultiIndex):
        table = table.reset_index()
    shown = table.copy()
    for column in shown.columns:
        if pd.api.types.is_float_dtype(shown[column]):
            shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:.{digits}f}")
    RECORDS.mkdir(parents=True, exist_ok=True)
    script = Path(sys.argv[0]).resolve()
    script_name = script.relative_to(ROOT).as_posix() if script.is_relative_to(ROOT) else script.name
    command = " ".join(shlex.quote(a) for a in ["python", script_name, *sys.argv[1:]])
    if os.environ.get("KERAS_BACKEND"):
        command = f"KERAS_BACKEND={os.environ['KERAS_BACKEND']} {command}"
    meta = {
        "title": title,
        "command": command,
        "date": date.today().isoformat(),
        "commit": _commit(),
        "machine": _machine(),
        "note": note,
    }
    csv = RECORDS / f"{name}.csv"
    for path, text in ((csv, shown.to_csv(index=False)), (csv.with_suffix(".json"), json.dumps(meta, indent=1) + "\n")):
        with atomic_file(path) as tmp:
            tmp.write_text(text)
    return csv
