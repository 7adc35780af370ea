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


class KLWarmUp(keras.callbacks.Callback):
    """Ramp the KL weight of the training loss linearly from 0 to ``beta`` over the first ``epochs``
    epochs (Bowman et al., 2016): the decoder learns to use the latent code before the KL pulls the
    posteriors to the prior. Sets the model's ``kl_scale`` at each epoch's start and 1 at the end."""

    def __init__(self, epochs: int):
        super().__init__()
        self.epochs = int(epochs)

    def on_epoch_begin(self, epoch, logs=None):
        self.model.kl_scale.assign(min(1.0, epoch / self.epochs) if self.epochs > 0 else 1.0)

    def on_train_end(self, logs=None):
        self.model.kl_scale.assign(1.0)


class EpochProgressBar(keras.callbacks.Callback):
    """One progress bar over all epochs (tqdm, on stderr, hidden when not on a terminal), with the
    current ``loss`` and ``val_loss``: what ``verbose=1`` shows instead of a line per epoch."""

    def __init__(self, epochs: int):
        super().__init__()
        self.epochs = epochs
        self.bar = None

    def on_train_begin(self, logs=None):
        import sys

        from tqdm import tqdm

        self.bar = tqdm(total=self.epochs, desc="training", unit=" epoch", disable=None, file=sys.stderr)

    def on_epoch_end(self, epoch, logs=None):
        shown = {k: f"{float(v):.4g}" for k, v in (logs or {}).items() if k in ("loss", "val_loss")}
        self.bar.set_postfix(shown, refresh=False)
        self.bar.update(1)

    def on_train_end(self, logs=None):
        if self.bar is not None:
            self.bar.close()
