"""Bounds on the size of a network, checked from its settings before any weight is allocated.

A setting a user (or a model file) gives can ask for more memory than any machine has: ``filters`` with twelve
stages on 8 x 8 images, a 4000 x 4000 image whose dense layer alone would take 15 GiB, ``hidden_units`` of a
billion. Each detector's ``_build_vae`` estimates its network from its settings first (:func:`dense_size`,
:func:`conv_size`) and :func:`check_network_size` refuses it with a message naming the settings and the bound,
instead of a ``MemoryError`` or the kernel's OOM killer some minutes later.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

MAX_PARAMETERS = 200_000_000
"""The most weights a network may have (800 MB as float32, about 3 GB with Adam's moments and the gradients)."""

MAX_TRAINING_BYTES = 8 * 2**30
"""The most bytes one training batch's activations may take (forward values and their gradients, float32)."""

MAX_WIDTH = 65_536
"""The most units of one dense layer, filters of one convolution stage, or latent dimensions."""


@dataclass(frozen=True)
class NetworkSize:
    """Weights of a network and the values one example's forward pass keeps (encoder and decoder together)."""

    parameters: int
    activations: int


def _dense_params(widths: Sequence[int]) -> int:
    return sum((a + 1) * b for a, b in zip(widths[:-1], widths[1:]))


def dense_size(
    n_features: int, hidden_units: Sequence[int], latent_dim: int, n_members: int = 1, heads: int = 2
) -> NetworkSize:
    """A dense VAE: ``n_features`` -> ``hidden_units`` -> 2 x ``latent_dim`` -> reversed -> ``heads`` x
    ``n_features``, ``n_members`` times."""
    hidden = [int(u) for u in hidden_units]
    encoder = _dense_params([n_features, *hidden, 2 * latent_dim])
    decoder = _dense_params([latent_dim, *reversed(hidden), heads * n_features])
    activations = n_features + 2 * sum(hidden) + 3 * latent_dim + heads * n_features
    return NetworkSize(n_members * (encoder + decoder), n_members * activations)


def conv_size(
    image_shape: Sequence[int],
    filters: Sequence[int],
    dense_units: int,
    latent_dim: int,
    kernel_size: int = 3,
    heads: int = 2,
) -> NetworkSize:
    """A convolutional VAE (:mod:`anomaly_vae.network.conv_parts`): stride-2 stages down, a dense bottleneck, upsampling
    stages back, one convolution per likelihood head."""
    *sides, channels = (int(s) for s in image_shape)
    kernel = kernel_size ** len(sides)
    params, activations, depth = 0, math.prod(sides) * channels, channels
    cells = list(sides)
    for f in filters:
        cells = [-(-c // 2) for c in cells]
        params += (kernel * depth + 1) * f
        activations += 2 * math.prod(cells) * f  # the encoder's stage and the decoder's mirror of it
        depth = f
    grid = math.prod(cells) * depth
    params += 2 * (grid + 1) * dense_units + 2 * (dense_units + 1) * latent_dim + (latent_dim + 1) * dense_units
    params += (kernel * depth + 1) * channels * heads
    activations += 2 * grid + 2 * dense_units + 3 * latent_dim + heads * math.prod(sides) * channels
    return NetworkSize(params, activations)


def check_conv_stages(image_shape: Sequence[int], filters: Sequence[int], what: str = "images") -> None:
    """Each stride-2 stage halves the sides; more stages than the smaller side allows
    (``2 ** stages <= side``) would only upsample padding back and multiply the memory."""
    sides = [int(s) for s in image_shape[:-1]]
    most = max(1, int(math.floor(math.log2(max(min(sides), 1)))))
    if len(filters) > most:
        shape = " x ".join(map(str, sides))
        raise ValueError(
            f"filters has {len(filters)} convolution stages, but {shape} {what} allow at most {most} "
            f"(each stage halves the sides; 2 ** stages may not exceed the smaller side {min(sides)})."
        )


def check_widths(**widths) -> None:
    """Every named width (an int or a sequence of ints) is at most :data:`MAX_WIDTH`."""
    for name, value in widths.items():
        values = [value] if isinstance(value, int) else list(value)
        if any(int(v) > MAX_WIDTH for v in values):
            raise ValueError(f"{name}={value!r}: at most {MAX_WIDTH:,} per layer.")


def check_network_size(size: NetworkSize, batch_size: int, described: str) -> None:
    """Refuse a network over :data:`MAX_PARAMETERS` weights, or a training batch over
    :data:`MAX_TRAINING_BYTES` of activations; ``described`` names the data and the settings in the message."""
    if size.parameters > MAX_PARAMETERS:
        raise ValueError(
            f"The network for {described} would have {size.parameters:,} weights, more than the "
            f"{MAX_PARAMETERS:,} allowed; use smaller inputs or fewer units/filters."
        )
    batch_bytes = 2 * 4 * size.activations * batch_size
    if batch_bytes > MAX_TRAINING_BYTES:
        raise ValueError(
            f"A training batch of {batch_size} for {described} would need about "
            f"{batch_bytes / 2**30:.1f} GiB of activations, more than the "
            f"{MAX_TRAINING_BYTES / 2**30:.0f} GiB allowed; use a smaller batch_size, smaller inputs or "
            f"fewer filters."
        )
