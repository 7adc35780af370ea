"""The output rule every command follows: an output never names an input, nor replaces anything unasked.

- An output file may not be an input (the same file by any path, a link included), nor a folder, nor an existing
  file inside an input folder; an existing file is replaced only with ``--overwrite``.
- An output folder may not be an input, hold an input, or sit inside an input folder when it already exists
  (replacing it would change the input); an existing non-empty folder is replaced only with ``--overwrite``, and
  an existing file never is.
- Paths are compared resolved (symbolic links, ``..``, ``~``), and with ``os.path.samefile`` where both exist.

The checks run before any model is loaded or any row read, so a refusal costs nothing and loses nothing; the
writers then write into a temporary sibling and rename last (:mod:`anomaly_vae.persistence.atomic`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

OVERWRITE_FLAG = "--overwrite"
OVERWRITE_HELP = "Replace an existing OUTPUT (or --maps folder); an input, or a folder holding one, is never replaced."


class OutputRefused(ValueError):
    """An output path that would destroy an input or replace something the user did not ask to replace."""


def _resolved(path: str | os.PathLike) -> Path:
    return Path(path).expanduser().resolve()


def _same(a: Path, b: Path) -> bool:
    if a == b:
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _inside(inner: Path, outer: Path) -> bool:
    """Whether ``inner`` lies in the folder ``outer`` (resolved paths)."""
    return inner != outer and inner.is_relative_to(outer)


def _inputs(inputs: Iterable[tuple[str, str | os.PathLike | None]]) -> list[tuple[str, Path]]:
    return [(label, _resolved(p)) for label, p in inputs if p is not None and Path(p).exists()]


def check_output_file(
    output: str | os.PathLike,
    inputs: Iterable[tuple[str, str | os.PathLike | None]] = (),
    overwrite: bool = False,
    what: str = "OUTPUT",
) -> Path:
    """Refuse ``output`` (a file to write) when it is one of ``inputs`` (``(label, path)`` pairs; a path that does
    not exist is skipped), a folder, or an existing file without ``overwrite``. Returns the path."""
    out = Path(output)
    described = f"{what} {str(output)!r}"
    resolved = _resolved(out)
    for label, source in _inputs(inputs):
        if _same(resolved, source):
            raise OutputRefused(f"{described} is the input {label}; write to a new file (nothing is replaced).")
        if out.exists() and _inside(resolved, source):
            raise OutputRefused(f"{described} is a file inside the input {label}; write to a new file outside it.")
    if out.is_dir():
        raise OutputRefused(f"{described} is a folder; give a file name such as {str(out / 'scores.csv')!r}.")
    if out.exists() and not overwrite:
        raise OutputRefused(f"{described} already exists; give a new file name, or {OVERWRITE_FLAG} to replace it.")
    return out


def check_output_folder(
    folder: str | os.PathLike,
    inputs: Iterable[tuple[str, str | os.PathLike | None]] = (),
    overwrite: bool = False,
    what: str = "OUTPUT",
) -> Path:
    """Refuse ``folder`` (a folder to write) when it is an input, holds one, or exists inside an input folder; when
    it is a file; or when it is a non-empty folder without ``overwrite``. Returns the path."""
    out = Path(folder)
    described = f"{what} {str(folder)!r}"
    resolved = _resolved(out)
    for label, source in _inputs(inputs):
        if _same(resolved, source):
            raise OutputRefused(f"{described} is the input {label}; give a new folder (nothing is replaced).")
        if _inside(source, resolved):
            raise OutputRefused(f"{described} holds the input {label} {str(source)!r}; give a new folder.")
        if out.exists() and _inside(resolved, source):
            raise OutputRefused(
                f"{described} lies inside the input {label}, and replacing it would change that "
                f"input; give a new folder outside it."
            )
    if out.exists() and not out.is_dir():
        raise OutputRefused(f"{described} is a file; give a new folder.")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise OutputRefused(
            f"{described} already exists and is not empty; give a new folder, or {OVERWRITE_FLAG} to replace it."
        )
    return out
