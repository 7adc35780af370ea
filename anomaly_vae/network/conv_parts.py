"""The convolutional parts: an encoder (images or series windows -> posterior parameters) and a decoder (codes ->
per-pixel or per-time-step likelihood parameters), sized from the example's shape.

An example of shape ``(height, width, channels)`` is an image and gets ``Conv2D`` layers; one of shape
``(length, channels)`` is a window of a time series and gets the same design in one dimension (``Conv1D``,
``UpSampling1D``): for a window of 64 with filters (32, 64), 64x1 -> 32x32 -> 16x64 -> dense -> z -> ... -> 64x1.

Encoder: ``len(filters)`` stride-2 ``Conv2D`` layers ("same" padding, so any height and width works: each
halves the size, rounding up), a dense layer, then ``z_mean``/``z_log_var``. Decoder: the mirror image, a
dense layer onto the smallest grid, then per stage a nearest-neighbour ``UpSampling2D`` and a ``Conv2D`` back
to the encoder's filters one stage up (no ``Conv2DTranspose``: upsampling then convolving avoids its
checkerboard artefacts and computes the same on every backend); after the last upsampling, cropped back to
the image's height and width, one ``Conv2D`` per likelihood head makes the pixels' parameters. For 28 x 28:
28x28x1 -> 14x14x32 -> 7x7x64 -> dense -> z -> dense -> 7x7x64 -> 14x14x32 -> 28x28x1. Images are channels-last ``(n, height, width, channels)``, grey or RGB.

These layers are called through Keras' ``Layer.__call__`` (autocast to the compute dtype, build on first
use), so a mixed-precision policy is honoured by every layer; the ``VAE`` may still call a part's ``call``
directly (its fast path), since the part itself holds no maths outside its sublayers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
from keras import ops

from anomaly_vae.inputs.validation import check_positive_int
from anomaly_vae.network import initializers
from anomaly_vae.network.seeds import SeedCounter
from anomaly_vae.network.size_limits import check_conv_stages, check_network_size, check_widths, conv_size

MIN_GRID = 4
"""The encoder downsamples until the smaller image side would drop below this many cells (at most 4 stages)."""


def default_filters(*sides: int) -> tuple[int, ...]:
    """Filters per stage for an image (or a window) with these sides: 32, doubling per stage up to 256, with as many
    stride-2 stages as keep the smallest side at least ``MIN_GRID`` (one at least, four at most):
    28 x 28 gets (32, 64) down to 7 x 7; 8 x 8 gets (32,) down to 4 x 4; 256 x 256 gets four stages."""
    stages = int(max(1, min(4, math.floor(math.log2(max(min(sides), 1) / MIN_GRID)))))
    return tuple(min(32 * 2**i, 256) for i in range(stages))


def describe_conv(image_shape, filters, dense_units) -> str:
    """``28 x 28 x 1 images with filters (32, 64) and dense_units 128``, for messages about a network's size."""
    what = "images" if len(image_shape) == 3 else "windows"
    return f"{' x '.join(map(str, image_shape))} {what} with filters {tuple(filters)} and dense_units {dense_units}"


def _check_image_shape(image_shape) -> tuple[int, ...]:
    shape = tuple(image_shape)
    if len(shape) not in (2, 3):
        raise ValueError(
            f"image_shape must be (height, width, channels), or (length, channels) for windows of a "
            f"series; got {image_shape!r}."
        )
    return tuple(check_positive_int("image_shape", s) for s in shape)


class _ConvPart(keras.layers.Layer):
    """Shared arguments of the convolutional parts, checked with messages that name the argument."""

    def __init__(
        self,
        image_shape,
        latent_dim,
        filters: Sequence[int] | None = None,
        dense_units: int = 128,
        kernel_size: int = 3,
        activation: str = "relu",
        seed=None,
        seed_start: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.image_shape = _check_image_shape(image_shape)
        self.latent_dim = check_positive_int("latent_dim", latent_dim)
        filters = default_filters(*self.image_shape[:-1]) if filters is None else filters
        self.filters = tuple(check_positive_int("filters", f) for f in filters)
        if not self.filters:
            raise ValueError("filters must name at least one convolution stage.")
        self.dense_units = check_positive_int("dense_units", dense_units)
        self.kernel_size = check_positive_int("kernel_size", kernel_size)
        what = "images" if len(self.image_shape) == 3 else "windows"
        check_conv_stages(self.image_shape, self.filters, what)
        check_widths(filters=self.filters, dense_units=self.dense_units, latent_dim=self.latent_dim)
        check_network_size(
            conv_size(self.image_shape, self.filters, self.dense_units, self.latent_dim, self.kernel_size),
            1,
            describe_conv(self.image_shape, self.filters, self.dense_units),
        )
        self.activation = activation
        self.seed = seed
        self.seed_start = int(seed_start)
        self._seeds = SeedCounter(seed, seed_start)
        self.n_members = 1  # convolutions have no member axis; outputs still carry a length-1 one

    @property
    def event_shape(self) -> tuple[int, ...]:
        return self.image_shape

    @property
    def rank(self) -> int:
        """Spatial axes of an example: 2 for images, 1 for series windows."""
        return len(self.image_shape) - 1

    @property
    def seeds_used(self) -> int:
        return self._seeds.i - self.seed_start

    @property
    def grid(self) -> tuple[int, ...]:
        """Spatial sides (height and width, or length) after the encoder's stride-2 stages (each rounds up)."""
        sides = self.image_shape[:-1]
        for _ in self.filters:
            sides = tuple(-(-s // 2) for s in sides)
        return sides

    def _conv(self, filters, activation, name, strides=1):
        conv = keras.layers.Conv2D if self.rank == 2 else keras.layers.Conv1D
        return conv(
            filters,
            self.kernel_size,
            strides=strides,
            padding="same",
            activation=activation,
            name=name,
            kernel_initializer=initializers.ConvGlorotUniform(self._seeds()),
            bias_initializer=initializers.Zeros(),
            dtype=self.dtype_policy,
        )

    def _dense(self, units, activation, name):
        return keras.layers.Dense(
            units,
            activation=activation,
            name=name,
            kernel_initializer=initializers.GlorotUniform(self._seeds()),
            bias_initializer=initializers.Zeros(),
            dtype=self.dtype_policy,
        )

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            image_shape=list(self.image_shape),
            latent_dim=self.latent_dim,
            filters=list(self.filters),
            dense_units=self.dense_units,
            kernel_size=self.kernel_size,
            activation=self.activation,
            seed=self.seed,
            seed_start=self.seed_start,
        )
        return config


@keras.saving.register_keras_serializable(package="anomaly_vae")
class ConvEncoder(_ConvPart):
    """Images ``(n, height, width, channels)`` (or windows ``(n, length, channels)``) -> ``(z_mean, z_log_var)``,
    each ``(1, n, latent_dim)``.

    Parameters
    ----------
    image_shape : (height, width, channels) or (length, channels)
    latent_dim : int
    filters : sequence of int or None
        Filters of each stride-2 convolution stage; None: :func:`default_filters` for the image size.
    dense_units : int
        Width of the dense layer between the convolutions and the latent heads.
    kernel_size : int
    activation : str
    seed : int or None
        Base seed of the weight initialisers (NumPy draws: the same weights on every backend).
    """

    def __init__(self, image_shape, latent_dim, **kwargs):
        super().__init__(image_shape, latent_dim, **kwargs)
        self.convs = [self._conv(f, self.activation, f"conv_{i}", strides=2) for i, f in enumerate(self.filters)]
        self.hidden = self._dense(self.dense_units, self.activation, "encoder_dense")
        self.z_mean_layer = self._dense(self.latent_dim, None, "z_mean")
        self.z_log_var_layer = self._dense(self.latent_dim, None, "z_log_var")

    def build(self, input_shape=None):
        shape = (None, *self.image_shape)
        for conv in self.convs:
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
        self.hidden.build((None, math.prod(shape[1:])))
        self.z_mean_layer.build((None, self.dense_units))
        self.z_log_var_layer.build((None, self.dense_units))
        self.built = True

    def call(self, x):
        h = x
        for conv in self.convs:
            h = conv(h)
        h = self.hidden(ops.reshape(h, (-1, math.prod(h.shape[1:]))))
        return ops.expand_dims(self.z_mean_layer(h), 0), ops.expand_dims(self.z_log_var_layer(h), 0)


@keras.saving.register_keras_serializable(package="anomaly_vae")
class ConvDecoder(_ConvPart):
    """Codes ``(1, n, latent_dim)`` -> a dict of the likelihood's per-pixel ``heads``, each
    ``(1, n, height, width, channels)`` (``(1, n, length, channels)`` for windows). ``filters`` are the encoder's (the
    decoder runs them in reverse)."""

    def __init__(self, image_shape, latent_dim, heads=("x_mean",), **kwargs):
        super().__init__(image_shape, latent_dim, **kwargs)
        self.heads = tuple(str(h) for h in heads)
        self.hidden = self._dense(self.dense_units, self.activation, "decoder_dense")
        self.to_grid = self._dense(math.prod(self.grid) * self.filters[-1], self.activation, "to_grid")
        upsampling = keras.layers.UpSampling2D if self.rank == 2 else keras.layers.UpSampling1D
        self.upsample = upsampling(2, dtype=self.dtype_policy, name="upsample")
        # The mirror of the encoder: stage i upsamples and convolves to the encoder's filters one stage
        # shallower; the last upsampling is followed by the heads, which convolve to the image's channels.
        self.convs = [self._conv(f, self.activation, f"deconv_{i}") for i, f in enumerate(reversed(self.filters[:-1]))]
        self.head_layers = [self._conv(self.image_shape[-1], None, head) for head in self.heads]

    def build(self, input_shape=None):
        sides = self.grid
        self.hidden.build((None, self.latent_dim))
        self.to_grid.build((None, self.dense_units))
        channels = self.filters[-1]
        for conv in self.convs:
            sides = tuple(2 * s for s in sides)
            conv.build((None, *sides, channels))
            channels = conv.filters
        for layer in self.head_layers:  # after the last upsampling, cropped to the image
            layer.build((None, *self.image_shape[:-1], channels))
        self.built = True

    def call(self, z):
        h = self.to_grid(self.hidden(z[0]))
        h = ops.reshape(h, (-1, *self.grid, self.filters[-1]))
        for conv in self.convs:
            h = conv(self.upsample(h))
        h = self.upsample(h)  # the grid rounded up: crop back to the image (or window)
        h = h[:, : self.image_shape[0], : self.image_shape[1], :] if self.rank == 2 else h[:, : self.image_shape[0], :]
        return {head: ops.expand_dims(layer(h), 0) for head, layer in zip(self.heads, self.head_layers)}

    def get_config(self) -> dict:
        return {**super().get_config(), "heads": list(self.heads)}
