"""Weight initialisers drawn with NumPy from a seed.

Keras' own initialisers run backend random ops eagerly, and under JAX each new weight
shape compiled its own kernel: about 4 s of a first 1,000-row fit on CPU. Drawing with
NumPy costs microseconds and gives the same starting weights on every backend. The draws are
handed over as the backend's own arrays (:func:`anomaly_vae.network.steps.backend_array`), since JAX
also compiles a conversion per shape; :func:`optimizer_slots_from_numpy` gives Adam's zero
slots the same treatment.
"""

from __future__ import annotations

import contextlib
import math

import keras
import numpy as np

from anomaly_vae.network.steps import backend_array


class _Seeded(keras.initializers.Initializer):
    """Holds the seed of a NumPy draw; None draws fresh entropy."""

    def __init__(self, seed: int | None = None):
        self.seed = seed

    def get_config(self) -> dict:
        return {"seed": self.seed}


class GlorotUniform(_Seeded):
    """Uniform on [-limit, limit], limit = sqrt(6 / (fan_in + fan_out)), as Keras' ``GlorotUniform``
    for a dense kernel. Leading axes beyond the last two index independent kernels (ensemble members)."""

    def __call__(self, shape, dtype=None):
        fan_in, fan_out = (shape[-2], shape[-1]) if len(shape) >= 2 else (shape[0], shape[0])
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        values = np.random.default_rng(self.seed).uniform(-limit, limit, size=shape)
        return backend_array(values.astype(keras.backend.standardize_dtype(dtype or "float32")))


class Normal(_Seeded):
    """Standard normal draws."""

    def __call__(self, shape, dtype=None):
        values = np.random.default_rng(self.seed).standard_normal(size=shape)
        return backend_array(values.astype(keras.backend.standardize_dtype(dtype or "float32")))


class Zeros(keras.initializers.Initializer):
    """Zeros, built in NumPy (Keras' ``zeros`` compiles a fill per shape under JAX)."""

    def __call__(self, shape, dtype=None):
        return backend_array(np.zeros(shape, dtype=keras.backend.standardize_dtype(dtype or "float32")))


class Ones(keras.initializers.Initializer):
    """Ones, built in NumPy."""

    def __call__(self, shape, dtype=None):
        return backend_array(np.ones(shape, dtype=keras.backend.standardize_dtype(dtype or "float32")))


class ConvGlorotUniform(_Seeded):
    """Keras' ``GlorotUniform`` for a convolution kernel ``(*kernel_size, in, out)``: the fans count the
    receptive field, ``fan_in = prod(kernel_size) * in`` and ``fan_out = prod(kernel_size) * out``."""

    def __call__(self, shape, dtype=None):
        receptive = math.prod(shape[:-2])
        limit = math.sqrt(6.0 / (receptive * (shape[-2] + shape[-1])))
        values = np.random.default_rng(self.seed).uniform(-limit, limit, size=shape)
        return backend_array(values.astype(keras.backend.standardize_dtype(dtype or "float32")))


@contextlib.contextmanager
def optimizer_slots_from_numpy():
    """Within it, the ``"zeros"`` that Keras' optimizers start their slots from (Adam's momentums and
    velocities) is :class:`Zeros`: under JAX, Keras' own compiled a fill for every weight shape (about
    50 ms each on these CPUs). Keras looks initialiser names up in the custom-object scope first."""
    with keras.saving.custom_object_scope({"zeros": Zeros}):
        yield
