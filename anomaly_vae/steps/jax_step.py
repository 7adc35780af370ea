"""JAX training step: stateless, with ``jax.value_and_grad`` around the shared ELBO.

The step must hand back the updated non-trainable variables: they hold the
``SeedGenerator`` state, and dropping them would reuse the same noise every step.
"""

import jax
import keras
from keras.utils import unpack_x_y_sample_weight


class JaxELBOStep:
    """Mixin for ``VAE`` on the JAX backend."""

    def _stateless_elbo(self, trainable_variables, non_trainable_variables, x, training):
        outputs, non_trainable_variables = self.stateless_call(
            trainable_variables, non_trainable_variables, x, training=training
        )
        loss, reconstruction_loss, kl_loss = self._elbo_loss(x, outputs)
        return loss, (reconstruction_loss, kl_loss, non_trainable_variables)

    def _stateless_metrics(self, metrics_variables, loss, reconstruction_loss, kl_loss):
        mapping = list(zip(self.metrics_variables, metrics_variables))
        with keras.StatelessScope(state_mapping=mapping) as scope:
            logs = self._update_metrics(loss, reconstruction_loss, kl_loss)
        new_values = [scope.get_current_value(v) for v in self.metrics_variables]
        return logs, [v if v is not None else ref.value for v, ref in zip(new_values, self.metrics_variables)]

    def train_step(self, state, data):
        trainable_variables, non_trainable_variables, optimizer_variables, metrics_variables = state
        x, _, _ = unpack_x_y_sample_weight(data)
        grad_fn = jax.value_and_grad(self._stateless_elbo, has_aux=True)
        (loss, (reconstruction_loss, kl_loss, non_trainable_variables)), grads = grad_fn(
            trainable_variables, non_trainable_variables, x, True
        )
        trainable_variables, optimizer_variables = self.optimizer.stateless_apply(
            optimizer_variables, grads, trainable_variables
        )
        logs, metrics_variables = self._stateless_metrics(
            metrics_variables, loss, reconstruction_loss, kl_loss
        )
        return logs, (trainable_variables, non_trainable_variables, optimizer_variables, metrics_variables)

    def test_step(self, state, data):
        trainable_variables, non_trainable_variables, metrics_variables = state
        x, _, _ = unpack_x_y_sample_weight(data)
        loss, (reconstruction_loss, kl_loss, non_trainable_variables) = self._stateless_elbo(
            trainable_variables, non_trainable_variables, x, False
        )
        logs, metrics_variables = self._stateless_metrics(
            metrics_variables, loss, reconstruction_loss, kl_loss
        )
        return logs, (trainable_variables, non_trainable_variables, metrics_variables)


def device_description() -> str:
    """The device JAX computes on, for run logs."""
    device = jax.devices()[0]
    return "CPU" if device.platform == "cpu" else f"{device.platform.upper()}: {device.device_kind}"
