"""The evidence lower bound (ELBO), shared by every backend's training step and by scoring."""

from __future__ import annotations

from keras import ops

from anomaly_vae.likelihoods import feature_nll


def kl_to_standard_normal(z_mean, z_log_var):
    """Closed-form KL(N(z_mean, exp(z_log_var)) || N(0, I)) per row."""
    return -0.5 * ops.sum(1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1)


def elbo_terms(x, outputs: dict, likelihood: str, categorical=None):
    """Reconstruction NLL per feature ``(n, d)`` and KL per row ``(n,)``, in float32.

    ``outputs`` is what ``VAE.call`` returns; ``categorical`` the model's one-hot groups, if any.
    Everything is cast to float32 so the loss stays in full precision under a mixed-precision policy.
    """
    outputs = {k: ops.cast(v, "float32") for k, v in outputs.items()}
    x = ops.cast(x, "float32")
    recon = feature_nll(x, outputs, likelihood, categorical)
    kl = kl_to_standard_normal(outputs["z_mean"], outputs["z_log_var"])
    return recon, kl


def elbo_loss(x, outputs: dict, likelihood: str, beta, categorical=None):
    """Batch means of the β-weighted negative ELBO, its reconstruction NLL and its KL."""
    recon, kl = elbo_terms(x, outputs, likelihood, categorical)
    reconstruction_loss = ops.mean(ops.sum(recon, axis=-1))
    kl_loss = ops.mean(kl)
    return reconstruction_loss + beta * kl_loss, reconstruction_loss, kl_loss
