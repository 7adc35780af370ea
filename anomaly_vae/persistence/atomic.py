"""Writing files and folders atomically (a temporary, then one rename), with the user's umask.

``tempfile.mkstemp``/``mkdtemp`` create 0600 files and 0700 folders whatever the umask; the results
here get the modes a plain ``open``/``mkdir`` would have given, so a serving account in the same
group reads the models and scores we write (and MLflow's copies of them, which keep the modes).
A temporary file holds an exclusive ``flock`` while it is written, so the temporaries of a killed
process (SIGKILL leaves them behind) can be told from those of a live one and removed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

TMP_SUFFIX = ".tmp"


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows (``/proc/self/status``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def apply_umask(path: str | os.PathLike) -> None:
    """Give ``path`` the mode ``open``/``mkdir`` would have: 0666 or 0777 less the umask."""
    base = 0o777 if Path(path).is_dir() else 0o666
    os.chmod(path, base & ~current_umask())


def temporary_name(path: Path) -> str:
    return f".{path.name}-"


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, suffix: str = TMP_SUFFIX, replace: bool = True) -> Iterator[Path]:
    """Yield a locked temporary path beside ``path``; on success it becomes ``path``, on error it is removed.

    With ``replace=False`` an existing ``path`` is never replaced, even one another process creates while the
    temporary is written: the temporary is hard-linked into place, which fails on an existing name
    (``FileExistsError``).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temporary_name(path), suffix=suffix)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        apply_umask(tmp)
        yield Path(tmp)
        if replace:
            os.replace(tmp, path)
        else:
            _link_no_clobber(Path(tmp), path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)


def _link_no_clobber(tmp: Path, path: Path) -> None:
    """Move ``tmp`` to ``path`` unless ``path`` exists: a hard link (atomic), or where the file system has none,
    a check and a rename."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise FileExistsError(f"{str(path)!r} already exists; it was not replaced.") from None
    except OSError:  # no hard links here (some network and FUSE file systems)
        if path.exists():
            raise FileExistsError(f"{str(path)!r} already exists; it was not replaced.") from None
        os.replace(tmp, path)
        return
    tmp.unlink()


def remove_stale_temporaries(path: str | os.PathLike, suffix: str = TMP_SUFFIX) -> list[Path]:
    """Remove the temporaries of ``path`` that :func:`atomic_file` left when its process was killed.

    A temporary whose lock can be taken belongs to no live writer. Returns what was removed.
    """
    path = Path(path)
    removed: list[Path] = []
    if not path.parent.is_dir():
        return removed
    for candidate in path.parent.glob(f"{temporary_name(path)}*{suffix}"):
        try:
            fd = os.open(candidate, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # a live writer holds it
        else:
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
        finally:
            os.close(fd)
    return removed


class FolderExistsError(FileExistsError):
    """:func:`write_folder_atomically` with ``replace=False`` found the folder already there."""


def write_folder_atomically(folder: str | os.PathLike, write, replace: bool = True) -> Path:
    """Call ``write(tmp_folder)``, then move the folder into place in one rename.

    A failure leaves no partial folder. With ``replace=True`` an existing folder is replaced only
    once the new one is complete; with ``replace=False`` it is never replaced (``FolderExistsError``),
    even when another process creates it while ``write`` runs.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=temporary_name(folder)))
    try:
        apply_umask(tmp)
        write(tmp)
        if not replace:
            try:
                os.rename(tmp, folder)  # fails on an existing non-empty folder, atomically
            except OSError as err:
                if folder.exists():
                    raise FolderExistsError(f"{str(folder)!r} already exists; it was not replaced.") from err
                raise
        elif folder.exists():
            old = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}-old-"))
            os.replace(folder, old / folder.name)
            os.replace(tmp, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder
