"""PyTorch training step: ``loss.backward()`` around the shared ELBO."""

import torch
from keras.utils import unpack_x_y_sample_weight


class TorchELBOStep:
    """Mixin for ``VAE`` on the PyTorch backend."""

    def train_step(self, data):
        x, _, _ = unpack_x_y_sample_weight(data)
        self.zero_grad()
        outputs = self(x, training=True)
        loss, reconstruction_loss, kl_loss = self._elbo_loss(x, outputs)
        loss.backward()
        weights = self.trainable_weights
        grads = [w.value.grad for w in weights]
        with torch.no_grad():
            self.optimizer.apply(grads, weights)
        return self._update_metrics(loss, reconstruction_loss, kl_loss)

    def test_step(self, data):
        x, _, _ = unpack_x_y_sample_weight(data)
        with torch.no_grad():
            outputs = self(x, training=False)
            return self._update_metrics(*self._elbo_loss(x, outputs))


def seed_framework(seed: int) -> None:
    """Seed torch's global generator, which shuffles the training data."""
    torch.manual_seed(seed)


def device_description() -> str:
    """The device Keras' torch backend computes on, for run logs."""
    if torch.cuda.is_available():
        return f"GPU: {torch.cuda.get_device_name(0)}"
    return "CPU"
