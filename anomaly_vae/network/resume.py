"""What makes a fit resumed from a checkpoint the same fit as one never stopped.

``keras.callbacks.BackupAndRestore`` keeps the weights, the optimizer's state and the epoch. Two more things decide
the model a fit ends with, and Keras keeps neither:

- **The randomness of each epoch** (the order of the batches, the reparameterisation noise, the corruption). Keras
  shuffles from the backend's global generator, whose state a new process does not have. :class:`EpochSeeds`
  reseeds every generator at the start of each epoch from ``(seed, epoch)``, so epoch ``k`` draws the same numbers
  whether the fit ran through or was resumed before it. (TensorFlow shuffles inside a ``tf.data`` pipeline built
  once per fit, which no reseeding reaches: on TensorFlow a resumed fit sees other batch orders.)
- **Early stopping's state** (the best loss so far, the epochs waited, the best weights, which Keras restores at the
  end). :class:`ResumableEarlyStopping` writes it beside the checkpoint at every epoch's end and reads it back when the
  fit resumes.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import keras
import numpy as np

STATE_FILE = "early_stopping.npz"
"""Early stopping's state, in the checkpoint folder of a ``BackupAndRestore`` callback."""


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of one epoch: a hash of the fit's seed and the epoch (NumPy's ``SeedSequence``), in [0, 2**31)."""
    return int(np.random.SeedSequence([int(seed), int(epoch)]).generate_state(1)[0] & 0x7FFFFFFF)


class EpochSeeds(keras.callbacks.Callback):
    """At each epoch's start, seed Python, NumPy and the backend (the shuffle) and the model's ``seed_generator``
    (its noise) from :func:`epoch_seed`. The detector restores Python's and NumPy's generators after the fit."""

    def __init__(self, seed: int):
        super().__init__()
        self.seed = int(seed)

    def on_epoch_begin(self, epoch, logs=None):
        from anomaly_vae.network.steps import reset_training_noise, set_random_seed

        seed = epoch_seed(self.seed, epoch)
        set_random_seed(seed)
        state = self.model.seed_generator.state
        state.assign(np.array([seed, 0], dtype=keras.backend.standardize_dtype(state.dtype)))
        reset_training_noise(self.model)


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """``keras.callbacks.EarlyStopping`` whose state survives a resumed fit: with ``state_dir`` (the folder of the
    fit's ``BackupAndRestore``), the state is written there (:data:`STATE_FILE`) at every epoch's end and read back
    at the first epoch of a resumed fit, when it was written at the epoch before."""

    def __init__(self, *args, state_dir: str | os.PathLike | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.state_path = Path(state_dir) / STATE_FILE if state_dir is not None else None
        self._first_epoch = True

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self._first_epoch = True

    def on_epoch_begin(self, epoch, logs=None):
        if self._first_epoch and epoch > 0 and self.state_path is not None and self.state_path.exists():
            self._restore(self.state_path, epoch)
        self._first_epoch = False

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        if self.state_path is not None:
            self._save(self.state_path, epoch)

    def _save(self, path: Path, epoch: int) -> None:
        best = None if self.best is None else float(self.best)
        meta = dict(epoch=epoch, wait=self.wait, best=best, best_epoch=self.best_epoch)
        meta["stopped_epoch"] = self.stopped_epoch
        arrays: dict[str, Any] = {f"w{i}": np.asarray(w) for i, w in enumerate(self.best_weights or [])}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            np.savez(f, meta=np.array(json.dumps(meta)), **arrays)
        os.replace(tmp, path)  # a crash mid-write leaves the previous epoch's state

    def _restore(self, path: Path, epoch: int) -> None:
        with np.load(path, allow_pickle=False) as saved:
            meta = json.loads(str(saved["meta"]))
            weights = [saved[f"w{i}"] for i in range(len(saved.files) - 1)]
        if meta["epoch"] != epoch - 1:
            warnings.warn(
                f"{path}: early stopping's state is of epoch {meta['epoch'] + 1}, the checkpoint of "
                f"epoch {epoch}; early stopping starts afresh.",
                RuntimeWarning,
                stacklevel=2,
            )
            return
        self.wait, self.best, self.best_epoch = meta["wait"], meta["best"], meta["best_epoch"]
        self.stopped_epoch = meta["stopped_epoch"]
        self.best_weights = weights or None
