"""Every shell and Python block of README.md and the documentation pages runs, as written, and exits 0.

Each page runs in its own copy of the project (the files git tracks or would track, with their times, and a link to
the real ``.venv``), with ``.venv/bin`` on ``PATH`` as the pages say, so nothing a page does touches this checkout.
The shell blocks of a page run in order, each in ``bash -e``; then its Python blocks, in order, as one script (later
blocks use the names earlier ones made). The pages keep their commands quick themselves (``--epochs 5`` where they
say so), so what a reader copies is exactly what ran here.

Two commands are not run from a page because they run this test: ``make test`` (what ``.ci/run`` runs) and
``make docs`` (a step of ``make test``); ``test_commands_run_elsewhere_are_run`` checks that they are.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted(p for p in (ROOT / "docs").rglob("*.md") if "_build" not in p.parts)]
FENCE = re.compile(r"^```(bash|python)\n(.*?)^```", re.MULTILINE | re.DOTALL)
RUN_ELSEWHERE = {
    "make test": "what .ci/run runs, and so what runs this test",
    "make docs": "a step of make test, after the tests",
}
BLOCK_TIMEOUT_S = 900  # a guard against a hang, not a measure of speed


def blocks(page: Path) -> list[tuple[str, int, str]]:
    """The page's runnable blocks: (language, line number, code)."""
    text = page.read_text(encoding="utf-8")
    return [(m.group(1), text.count("\n", 0, m.start()) + 1, m.group(2)) for m in FENCE.finditer(text)]


def command_of(line: str) -> str:
    return line.split("#", 1)[0].strip()


def project_copy(tmp_path: Path) -> Path:
    """The project's files (tracked, or untracked and not ignored) copied with their times, and the real .venv."""
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        capture_output=True,
        check=True,
    ).stdout.decode()
    copy = tmp_path / "project"
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    (copy / ".venv").symlink_to(ROOT / ".venv", target_is_directory=True)
    return copy


def page_environment(copy: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_") and k != "PYTEST_XDIST_WORKER"}
    env["PATH"] = f"{copy / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(copy / ".venv")
    env.setdefault("KERAS_BACKEND", "torch")
    env["OMP_NUM_THREADS"] = "1"
    env["PYTHONPATH"] = str(copy)  # the copy's code, not this checkout's editable install
    env["MAKEFLAGS"] = "-o .venv/.installed"  # `make demo` in the copy uses the linked .venv as it is
    return env


def run(args: list[str], copy: Path, env: dict[str, str], where: str) -> None:
    try:
        done = subprocess.run(args, cwd=copy, env=env, capture_output=True, text=True, timeout=BLOCK_TIMEOUT_S)
    except subprocess.TimeoutExpired as err:
        output = err.stdout.decode(errors="replace") if isinstance(err.stdout, bytes) else (err.stdout or "")
        pytest.fail(f"{where} did not finish in {BLOCK_TIMEOUT_S} s:\n{output[-3000:]}")
    if done.returncode != 0:
        pytest.fail(
            f"{where} exited {done.returncode}.\n--- stdout ---\n{done.stdout[-4000:]}\n--- stderr ---\n"
            f"{done.stderr[-4000:]}"
        )


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_block_of_the_page_runs(page: Path, tmp_path: Path):
    found = blocks(page)
    if not found:
        pytest.skip("no shell or Python block")
    copy = project_copy(tmp_path)
    env = page_environment(copy)
    python = []
    for language, line, code in found:
        where = f"{page.relative_to(ROOT)}, the {language} block at line {line}"
        if language == "python":
            python.append(f"# --- {where} ---\n{code}")
            continue
        script = "\n".join(
            "true  # run elsewhere: " + line_ if command_of(line_) in RUN_ELSEWHERE else line_
            for line_ in code.splitlines()
        )
        run(["bash", "-e", "-o", "pipefail", "-c", script], copy, env, where)
    if python:
        script_file = copy / ".docs_blocks.py"
        script_file.write_text("\n".join(python))
        run([sys.executable, str(script_file)], copy, env, f"{page.relative_to(ROOT)}, its Python blocks")


def test_commands_run_elsewhere_are_run():
    """``make test`` is what CI runs, and ``make test`` builds the docs."""
    ci = (ROOT / ".ci" / "run").read_text()
    assert [command_of(line) for line in ci.splitlines() if command_of(line) == "make test"], ci
    makefile = (ROOT / "Makefile").read_text()
    test_target = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "$(MAKE) docs" in test_target, test_target
    shown = {
        command_of(line)
        for page in PAGES
        for lang, _, code in blocks(page)
        if lang == "bash"
        for line in code.splitlines()
    }
    assert {"make test", "make demo"} <= shown, "the two commands must be on a page"


def test_blocks_are_found():
    """The parser sees the blocks a reader sees: the README's two commands, and a block on every guide page."""
    readme = [code for lang, _, code in blocks(ROOT / "README.md") if lang == "bash"]
    assert any("make demo" in code and "make test" in code for code in readme)
    for page in sorted((ROOT / "docs" / "user_guide").glob("*.md")):
        if page.name != "index.md":
            assert blocks(page), f"{page.name} shows no runnable block"


@pytest.mark.parametrize(
    "command", [[], ["fit"], ["score"], ["sample"], ["impute"]], ids=lambda c: " ".join(c) or "main"
)
def test_help_shows_plain_names_not_sphinx_markup(command):
    """Docstrings are written for Sphinx (``:class:`~a.B```, double backquotes); ``--help`` shows plain names."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    shown = subprocess.run(
        [sys.executable, "-m", "pipelines", *command, "--help"], capture_output=True, text=True, env=env, timeout=300
    )
    assert shown.returncode == 0, shown.stderr
    markup = re.findall(r":\w+:`[^`]*`|``", shown.stdout)
    assert not markup, f"anomaly-vae {' '.join(command)} --help shows Sphinx markup: {markup}"
