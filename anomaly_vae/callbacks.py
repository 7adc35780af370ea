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
