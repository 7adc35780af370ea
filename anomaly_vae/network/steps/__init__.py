"""Per-backend gradient plumbing for ``VAE.train_step`` / ``VAE.test_step``.

Only the modules in this package import tensorflow, jax or torch. Each one calls
the shared, backend-agnostic ``VAE._elbo_loss``; they differ only in how
gradients are taken and applied.
"""

from __future__ import annotations

import random

import keras
import numpy as np

from anomaly_vae.choices import BACKENDS


def step_mixin() -> type:
    """The training-step mixin for the active Keras backend."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        from anomaly_vae.network.steps.tensorflow_step import TensorFlowELBOStep

        return TensorFlowELBOStep
    if backend == "jax":
        from anomaly_vae.network.steps.jax_step import JaxELBOStep

        return JaxELBOStep
    if backend == "torch":
        from anomaly_vae.network.steps.torch_step import TorchELBOStep

        return TorchELBOStep
    return _UnsupportedBackendStep


class _UnsupportedBackendStep:
    """Scoring works on any backend; training needs tensorflow, jax or torch."""

    def train_step(self, *args, **kwargs):
        raise RuntimeError(
            f"Training a VAE is not supported on the {keras.backend.backend()!r} Keras backend; "
            "set KERAS_BACKEND to 'jax', 'tensorflow' or 'torch'."
        )


def set_random_seed(seed: int) -> None:
    """Seed Python, NumPy and the active backend, as ``keras.utils.set_random_seed`` does.

    Keras' own version also seeds TensorFlow whenever it is installed, and importing it
    costs seconds under JAX or torch. Every VAE weight and noise draw has its own seed,
    so only the data shuffle reads these global generators.
    """
    random.seed(seed)
    np.random.seed(seed)
    module = _step_module()
    if module is not None:
        module.seed_framework(seed)


def rng_state(model) -> dict:
    """The states of the random generators the backend's training step keeps outside Keras (torch: its global
    generator, which shuffles, and the step's noise generator), as NumPy arrays, for
    :class:`~anomaly_vae.network.resume.ResumeState`."""
    module = _step_module()
    get = getattr(module, "rng_state", None)
    return {} if get is None else get(model)


def set_rng_state(model, state: dict) -> None:
    """Restore what :func:`rng_state` returned."""
    module = _step_module()
    put = getattr(module, "set_rng_state", None)
    if put is not None and state:
        put(model, state)


def _step_module():
    backend = keras.backend.backend()
    if backend not in BACKENDS:
        return None
    from importlib import import_module

    return import_module(f"anomaly_vae.network.steps.{backend}_step")


def backend_array(values: np.ndarray):
    """``values`` as the active backend's array, for a weight's starting value.

    Keras turns a NumPy starting value into a JAX array with ``jnp.asarray``, which JAX 0.10 compiles once per new
    shape (about 20-30 ms each on these CPUs; a VAE and its Adam slots have dozens of shapes). ``jax.device_put``
    compiles nothing. Other backends take the NumPy array as it is.
    """
    module = _step_module()
    convert = getattr(module, "from_numpy", None)
    return values if convert is None else convert(values)


def device_description() -> str:
    """ "CPU" or "GPU: <name>" for the device the active backend computes on."""
    module = _step_module()
    return "CPU" if module is None else module.device_description()
