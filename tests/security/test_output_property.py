"""Property: whatever output path ``score``, ``impute`` and ``sample`` are given (new, existing, nested, equal to an
input, through ``..`` or a symbolic link), no file that existed before changes, unless the command was told to
replace that very file with ``--overwrite`` (issue 29)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.security.helpers import TRAIN, save_small_bundle, snapshot

pytestmark = pytest.mark.reliability

OUTPUTS = [
    "new.csv",
    "in.csv",
    "./in.csv",
    "dir/../in.csv",
    "link.csv",
    "old.csv",
    "dir",
    "dir/x.csv",
    "dir/new.csv",
    "empty",
    "model",
    "model/bundle.json",
    "model/new.csv",
    "new/deeper/out.parquet",
    "imputer",
    "imputer/imputer.json",
    "old.parquet",
]


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    """A table model, a saved imputer and a small table with gaps, made once and copied into each sandbox."""
    from pipelines.impute import run_impute

    root = tmp_path_factory.mktemp("output_property")
    frame = pd.read_csv(TRAIN).head(120)
    frame.to_csv(root / "in.csv", index=False)
    save_small_bundle(root / "model")
    run_impute(
        str(root / "in.csv"),
        str(root / "ignored.csv"),
        params={"epochs": 1, "hidden_units": (8,)},
        ignore=["label"],
        log_run=False,
        save_model=str(root / "imputer"),
    )
    return root


def sandbox(originals: Path, where: Path) -> Path:
    where.mkdir()
    shutil.copy(originals / "in.csv", where / "in.csv")
    shutil.copytree(originals / "model", where / "model")
    shutil.copytree(originals / "imputer", where / "imputer")
    (where / "dir").mkdir()
    (where / "dir" / "x.csv").write_text("a,b\n1,2\n")
    (where / "empty").mkdir()
    (where / "old.csv").write_text("kept\n")
    (where / "old.parquet").write_bytes(b"PAR1 not really")
    (where / "link.csv").symlink_to(where / "in.csv")
    return where


def run(command: str, root: Path, output: str, overwrite: bool) -> None:
    from pipelines.impute import run_impute
    from pipelines.sample import run_sample
    from pipelines.score import run_score
    from pipelines.settings import ScoreSettings

    out = str(root / output)
    if command == "score":
        run_score(
            ScoreSettings(
                model_uri=str(root / "model"), data=str(root / "in.csv"), output=out, log_run=False, overwrite=overwrite
            )
        )
    elif command == "impute":
        run_impute(
            str(root / "in.csv"), out, ignore=["label"], log_run=False, model=str(root / "imputer"), overwrite=overwrite
        )
    else:
        run_sample(str(root / "model"), 5, out, overwrite=overwrite)


@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(command=st.sampled_from(["score", "impute", "sample"]), output=st.sampled_from(OUTPUTS), overwrite=st.booleans())
def test_no_existing_file_changes_unless_it_was_the_output_and_replacing_was_asked(
    originals, tmp_path_factory, command, output, overwrite
):
    root = sandbox(originals, tmp_path_factory.mktemp("sandbox") / "work")
    before = snapshot(root)
    read = {
        "score": ("in.csv", "link.csv", "model/"),
        "impute": ("in.csv", "link.csv", "imputer/"),
        "sample": ("model/",),
    }[command]
    inputs = {k for k in before if k.startswith(read)}
    try:
        run(command, root, output, overwrite)
        succeeded = True
    except (ValueError, FileExistsError):  # refused: one line at the CLI
        succeeded = False
    after = snapshot(root)
    target = (root / output).resolve()
    for name, content in before.items():
        if after.get(name) == content:
            continue
        replaced = overwrite and succeeded and (root / name).resolve() == target and name not in inputs
        assert replaced, f"{command} -> {output!r} (overwrite={overwrite}) changed {name!r}"
    assert all(after.get(name) == before[name] for name in inputs), f"{command} -> {output!r} changed an input"
