"""The evidence lower bound (ELBO), shared by every backend's training step and by scoring.

The reconstruction term is summed over all **event axes** of an example (a row's features, an image's
height, width and channels), never over ``axis=-1`` alone, so one ELBO serves every modality.
"""

from __future__ import annotations

from keras import ops


def kl_to_standard_normal(z_mean, z_log_var):
    """Closed-form KL(N(z_mean, exp(z_log_var)) || N(0, I)), summed over the latent (last) axis."""
    return -0.5 * ops.sum(1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1)


def sum_event(t, leading: int):
    """Sum ``t`` over every axis after the first ``leading`` ones (the event axes of an example)."""
    axes = tuple(range(leading, len(t.shape)))
    return ops.sum(t, axis=axes) if axes else t


def elbo_terms(x, outputs: dict, likelihood):
    """Reconstruction NLL per element (the shape of ``x``) and KL per example, in float32.

    ``outputs`` is what ``VAE.call`` returns (a leading member axis on each entry); ``likelihood`` a
    :class:`~anomaly_vae.network.likelihoods.Likelihood`. Everything is cast to float32 so the loss stays in full
    precision under a mixed-precision policy.
    """
    outputs = {k: ops.cast(v, "float32") for k, v in outputs.items()}
    x = ops.cast(x, "float32")
    recon = likelihood.nll(x, outputs)
    kl = kl_to_standard_normal(outputs["z_mean"], outputs["z_log_var"])
    return recon, kl


def elbo_loss(x, outputs: dict, likelihood, beta):
    """Batch means of the β-weighted negative ELBO, its reconstruction NLL and its KL."""
    recon, kl = elbo_terms(x, outputs, likelihood)
    # recon is (n, *event) or (members, n, *event): sum each example's elements; the mean runs over the rest.
    reconstruction_loss = ops.mean(sum_event(recon, len(recon.shape) - len(x.shape) + 1))
    kl_loss = ops.mean(kl)
    return reconstruction_loss + beta * kl_loss, reconstruction_loss, kl_loss
