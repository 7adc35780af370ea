"""Keras callbacks used while fitting the detector."""

from __future__ import annotations

import math

import keras


class TrainingDivergedError(FloatingPointError):
    """The training loss became NaN or inf."""


class FailOnNonFiniteLoss(keras.callbacks.Callback):
    """Stop training with a clear error, naming the epoch, when the loss is NaN or inf."""

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            if key.endswith("loss") and not math.isfinite(float(value)):
                self.model.stop_training = True
                raise TrainingDivergedError(
                    f"Training diverged: {key} is {float(value)} at epoch {epoch + 1}. "
                    "Try a lower learning_rate, likelihood='mse', or check the input for extreme values."
                )


class LogELBO(keras.callbacks.Callback):
    """Add ``elbo`` and ``val_elbo`` to the epoch logs: the negative ELBO with the KL at full
    weight, which is what the anomaly score measures, whatever ``beta`` the training loss uses."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        for prefix in ("", "val_"):
            recon, kl = logs.get(f"{prefix}reconstruction_loss"), logs.get(f"{prefix}kl_loss")
            if recon is not None and kl is not None:
                logs[f"{prefix}elbo"] = float(recon) + float(kl)
