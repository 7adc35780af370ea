"""Per-run training checkpoints: one folder per fit, locked while the fit runs.

Each fit checkpoints into its own folder under ``<output_dir>/checkpoints/`` (or ``--checkpoint-dir``),
so two fits in the same output folder never share one. A fit holds an exclusive ``flock`` on its
folder's ``lock`` file; the lock dies with the process, so an interrupted or killed fit's checkpoint
can be resumed, while one in use by a live fit is never resumed, replaced or removed by another.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from pipelines.settings import FitSettings, flag

LOCK_FILE, RUN_FILE, KERAS_FOLDER = "lock", "run.json", "keras"

RESUMABLE_CHANGES = frozenset({"epochs", "verbose"})
"""Detector parameters a resumed fit may change: how long it trains and what it prints. Any other change would give
the checkpointed weights a network they do not fit, or silently train another model."""


def model_params(detector) -> dict[str, str]:
    """The detector's parameters as the checkpoint records them (``run.json``), each as its ``repr``."""
    return {name: repr(value) for name, value in sorted(detector.get_params().items())}


class Checkpoint:
    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.keras_folder = self.folder / KERAS_FOLDER
        self._fd: int | None = None

    # ----------------------------------------------------------- choosing one
    @classmethod
    def create(cls, settings: FitSettings, run_name: str) -> Checkpoint:
        """A new, locked checkpoint for a fresh fit (``--checkpoint-dir``, or a new folder under the root)."""
        if settings.checkpoint_dir:
            checkpoint = cls(Path(settings.checkpoint_dir))
            checkpoint.folder.mkdir(parents=True, exist_ok=True)
            checkpoint.acquire()
            for child in checkpoint.folder.iterdir():  # an older, finished-with checkpoint here is replaced
                if child.name != LOCK_FILE:
                    shutil.rmtree(child) if child.is_dir() else child.unlink()
            return checkpoint
        root = settings.checkpoints_root()
        root.mkdir(parents=True, exist_ok=True)
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", run_name)[:80] or "run"
        checkpoint = cls(Path(tempfile.mkdtemp(dir=root, prefix=f"{safe}-")))
        from anomaly_vae.persistence.atomic import apply_umask

        apply_umask(checkpoint.folder)
        checkpoint.acquire()
        return checkpoint

    @classmethod
    def resume(cls, settings: FitSettings) -> Checkpoint:
        """The interrupted fit that ``--resume`` continues: ``--checkpoint-dir``, or the one checkpoint
        under the root made from the same data (and run name, if given) that no live fit holds."""
        if settings.checkpoint_dir:
            candidates = [cls(Path(settings.checkpoint_dir))]
        else:
            root = settings.checkpoints_root()
            candidates = [cls(p) for p in sorted(root.iterdir())] if root.is_dir() else []
        data = str(Path(settings.data).resolve())
        found = []
        for candidate in candidates:
            info = candidate.run_info()
            if info is None or info.get("data") != data:
                continue
            if settings.run_name and info.get("run_name") != settings.run_name:
                continue
            found.append(candidate)
        if not found:
            where = settings.checkpoint_dir or settings.checkpoints_root()
            raise ValueError(f"Nothing to resume: no interrupted fit of {settings.data!r} in {str(where)!r}.")
        free = []
        for candidate in found:
            try:
                candidate.acquire()
            except ValueError:
                continue
            free.append(candidate)
        if not free:
            raise ValueError(f"Nothing to resume: the fit checkpointed in {str(found[0].folder)!r} is still running.")
        if len(free) > 1:
            for c in free:
                c.release()
            names = [str(c.folder) for c in free]
            raise ValueError(
                f"Several interrupted fits of {settings.data!r} can be resumed: {names}; "
                f"choose one with {flag('checkpoint_dir')} (or {flag('run_name')})."
            )
        return free[0]

    # ------------------------------------------------------------ lifecycle
    def acquire(self) -> None:
        """Take the folder's lock, or raise ``ValueError`` if a live fit holds it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise ValueError(
                f"The checkpoint folder {str(self.folder)!r} is in use by another fit that is still "
                f"running; give this one another {flag('checkpoint_dir')}."
            ) from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def remove(self) -> None:
        """Delete the checkpoint once its fit's model is saved (the lock goes with it)."""
        shutil.rmtree(self.folder, ignore_errors=True)
        self.release()

    def run_info(self) -> dict | None:
        """What ``write_run_info`` recorded (MLflow run, run name, data), or None."""
        try:
            info = json.loads((self.folder / RUN_FILE).read_text())
        except (OSError, ValueError):
            return None
        return info if isinstance(info, dict) else None

    def check_resumable(self, params: dict[str, str]) -> None:
        """Refuse to resume when ``params`` (:func:`model_params` of the detector this command builds) differ from
        the checkpointed fit's in anything but :data:`RESUMABLE_CHANGES`, naming each option with both values. A
        checkpoint written before parameters were recorded is not checked."""
        saved = (self.run_info() or {}).get("detector")
        if not isinstance(saved, dict):
            return
        differ = sorted(
            k for k in set(saved) | set(params) if k not in RESUMABLE_CHANGES and saved.get(k) != params.get(k)
        )
        if differ:
            changes = "; ".join(f"{flag(k)} was {saved.get(k)}, now {params.get(k)}" for k in differ)
            raise ValueError(
                f"--resume continues the fit checkpointed in {str(self.folder)!r}, whose model was set up otherwise "
                f"({changes}). Give the options of that fit again, or fit afresh without --resume."
            )

    def write_run_info(self, info: dict) -> None:
        tmp = self.folder / f"{RUN_FILE}.tmp"
        tmp.write_text(json.dumps(info))
        tmp.replace(self.folder / RUN_FILE)
