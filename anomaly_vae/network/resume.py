"""What makes a fit resumed from a checkpoint the same fit as one never stopped.

``keras.callbacks.BackupAndRestore`` keeps the weights, the optimizer's state and the epoch. Two more things decide
the model a fit ends with, and Keras keeps neither:

- **The random generators' states**: NumPy's global generator (Keras shuffles with it on JAX), torch's global
  generator (Keras' torch ``DataLoader`` draws its shuffle from it), the model's ``seed_generator`` (the noise and
  the corruption) and the torch step's own noise generator. A new process starts them afresh, so a resumed fit would
  see other batch orders and other noise than the uninterrupted one.
- **Early stopping's state**: the best loss so far, the epochs waited and the best weights, which Keras restores at
  the end of the fit.

:class:`ResumeState` writes both beside the checkpoint at every epoch's end and reads them back at the first epoch of
a resumed fit, so the fit goes on exactly as if it had never stopped. Nothing changes for a fit without a checkpoint.
(TensorFlow shuffles inside a ``tf.data`` pipeline whose state no callback reaches: on TensorFlow a resumed fit sees
other batch orders.)
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import ops

STATE_FILE = "resume_state.npz"
"""The state, in the checkpoint folder of a ``BackupAndRestore`` callback."""

STOPPER_FIELDS = ("wait", "best", "best_epoch", "stopped_epoch")
"""What ``keras.callbacks.EarlyStopping`` counts between epochs (its best weights are kept as arrays)."""


class ResumeState(keras.callbacks.Callback):
    """Keep the random generators' states and early stopping's state in ``state_dir`` (:data:`STATE_FILE`) at every
    epoch's end; restore them at the first epoch of a resumed fit, when they were written at the epoch before.

    Put it after ``stopper`` (a ``keras.callbacks.EarlyStopping``, or None) in the callbacks, so it saves the
    stopper's state of the epoch just ended.
    """

    def __init__(self, state_dir: str | os.PathLike, stopper: keras.callbacks.EarlyStopping | None = None):
        super().__init__()
        self.path = Path(state_dir) / STATE_FILE
        self.stopper = stopper
        self._first_epoch = True

    def on_train_begin(self, logs=None):
        """A new fit: the next epoch is its first."""
        self._first_epoch = True

    def on_epoch_begin(self, epoch, logs=None):
        """At the first epoch of a resumed fit (``epoch > 0``), restore the state written at the epoch before."""
        if self._first_epoch and epoch > 0 and self.path.exists():
            self._restore(epoch)
        self._first_epoch = False

    def on_epoch_end(self, epoch, logs=None):
        """Write the state of the epoch just ended (atomically: a crash leaves the previous epoch's)."""
        self._save(epoch)

    # ------------------------------------------------------------------ the file
    def _save(self, epoch: int) -> None:
        from anomaly_vae.network.steps import rng_state

        name, keys, position, has_gauss, cached_gauss = np.random.get_state(legacy=True)
        meta: dict[str, Any] = dict(epoch=epoch, numpy=[name, position, has_gauss, cached_gauss])
        arrays: dict[str, Any] = {
            "numpy_keys": keys,
            "seed_generator": np.asarray(ops.convert_to_numpy(self.model.seed_generator.state.value)),
        }
        arrays.update({f"backend_{k}": v for k, v in rng_state(self.model).items()})
        if self.stopper is not None:
            stopper = self.stopper
            meta["stopper"] = {f: getattr(stopper, f) for f in STOPPER_FIELDS}
            meta["stopper"]["best"] = None if stopper.best is None else float(stopper.best)
            arrays.update({f"best_{i}": np.asarray(w) for i, w in enumerate(stopper.best_weights or [])})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            np.savez(f, meta=np.array(json.dumps(meta)), **arrays)
        os.replace(tmp, self.path)  # a crash mid-write leaves the previous epoch's state

    def _restore(self, epoch: int) -> None:
        from anomaly_vae.network.steps import set_rng_state

        with np.load(self.path, allow_pickle=False) as saved:  # arrays only: nothing in the file runs
            meta = json.loads(str(saved["meta"]))
            arrays = {k: saved[k] for k in saved.files if k != "meta"}
        if meta["epoch"] != epoch - 1:
            warnings.warn(
                f"{self.path}: the random generators' and early stopping's state are of epoch {meta['epoch'] + 1}, "
                f"the checkpoint of epoch {epoch}; the fit goes on without them (not exactly as if uninterrupted).",
                RuntimeWarning,
                stacklevel=2,
            )
            return
        name, position, has_gauss, cached_gauss = meta["numpy"]
        np.random.set_state((name, arrays["numpy_keys"], position, has_gauss, cached_gauss))
        state = self.model.seed_generator.state
        state.assign(arrays["seed_generator"].astype(keras.backend.standardize_dtype(state.dtype)))
        set_rng_state(self.model, {k[len("backend_") :]: v for k, v in arrays.items() if k.startswith("backend_")})
        if self.stopper is not None and "stopper" in meta:
            for field, value in meta["stopper"].items():
                setattr(self.stopper, field, value)
            best = [arrays[f"best_{i}"] for i in range(sum(k.startswith("best_") for k in arrays))]
            self.stopper.best_weights = best or None
            if self.stopper.stopped_epoch:  # it had stopped the fit when the fit was stopped: stop at once again
                self.model.stop_training = True  # (after one batch; the best weights are restored at the end)
