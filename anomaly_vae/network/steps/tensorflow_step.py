"""TensorFlow training step: ``tf.GradientTape`` around the shared ELBO."""

import tensorflow as tf
from keras.utils import unpack_x_y_sample_weight


class TensorFlowELBOStep:
    """Mixin for ``VAE`` on the TensorFlow backend."""

    def train_step(self, data):
        x, labels, _ = unpack_x_y_sample_weight(data)  # labels: 1 = known anomaly, or None
        with tf.GradientTape() as tape:
            outputs = self(x, training=True)
            loss, reconstruction_loss, kl_loss = self._elbo_loss(x, outputs, labels=labels)
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply(grads, self.trainable_weights)
        return self._update_metrics(loss, reconstruction_loss, kl_loss)

    def test_step(self, data):
        x, _, _ = unpack_x_y_sample_weight(data)
        outputs = self(x, training=False)
        return self._update_metrics(*self._elbo_loss(x, outputs, training=False))


def seed_framework(seed: int) -> None:
    """Seed TensorFlow's global generator, which shuffles the ``tf.data`` pipeline."""
    tf.random.set_seed(seed)


def device_description() -> str:
    """The device TensorFlow computes on, for run logs."""
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "CPU"
    details = tf.config.experimental.get_device_details(gpus[0])
    return f"GPU: {details.get('device_name', gpus[0].name)}"
