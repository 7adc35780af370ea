"""``LossTracker``: running batch means of the three ELBO metrics in one Keras metric."""

from __future__ import annotations

import keras
from keras import ops

LOSS_NAMES = ("loss", "reconstruction_loss", "kl_loss")


class LossTracker(keras.metrics.Metric):
    """Mean per batch of ``loss``, ``reconstruction_loss`` and ``kl_loss``; ``result()`` is a dict.

    One metric whose state is one vector (the three sums, then the batch count) does one update
    per step where three ``keras.metrics.Mean`` did three, which matters on eager PyTorch, where each
    update is paid in Python. Files saved before it load unchanged (metric state is not saved).
    """

    def __init__(self, name: str = "elbo_losses", **kwargs):
        super().__init__(name=name, **kwargs)
        self.totals = self.add_variable(shape=(len(LOSS_NAMES) + 1,), initializer="zeros", name="totals")

    def update_state(self, loss, reconstruction_loss, kl_loss):
        self.totals.assign_add(ops.cast(ops.stack([loss, reconstruction_loss, kl_loss, 1.0]), self.dtype))

    def result(self) -> dict:
        totals = ops.convert_to_tensor(self.totals)
        means = ops.divide_no_nan(totals[:-1], totals[-1])
        return {name: means[i] for i, name in enumerate(LOSS_NAMES)}
