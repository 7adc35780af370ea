"""Hand-written training loops of the image VAE, in JAX and in torch: the speed reference for ``VAEImageDetector``.

Same network as ``VAEImageDetector()``'s for 28 x 28 x 1 images (``anomaly_vae.network.conv_parts``): two stride-2
3 x 3 convolutions (32, 64 filters, ReLU) down to 7 x 7, a dense layer (the detector's ``dense_units``: 256),
``z_mean`` and ``z_log_var`` (its latent size, 32, clipped as in the library); a dense layer of the same width and one
onto the 7 x 7 x 64 grid, nearest-neighbour upsampling and a
3 x 3 convolution to 32 filters, upsampling again and a 3 x 3 convolution to the pixel means; a learned log-variance
per pixel (the Gaussian likelihood's shared head); the negative ELBO summed over pixels, Adam with global
gradient-norm clipping at 10 (JAX's loop is ``raw_loops.jax_adam_trainer``, shared with the tabular one). Each framework in its own idiom (JAX: NHWC and ``jax.jit``; torch: NCHW and eager
autograd), as a user of that framework would write it. Only benchmarks import the frameworks directly.
"""

from __future__ import annotations

import math
import time

import numpy as np
from raw_loops import CLIPNORM, LR, _batches, jax_adam_trainer

from anomaly_vae import VAEImageDetector
from anomaly_vae.detectors.image_detector import DEFAULT_IMAGE_LATENT
from anomaly_vae.network.conv_parts import default_filters
from anomaly_vae.network.likelihoods import HALF_LOG_2PI

SIDE = 28
FILTERS = default_filters(SIDE, SIDE)
DENSE = VAEImageDetector().dense_units
LATENT = DEFAULT_IMAGE_LATENT
"""The detector's defaults, read from it, so that the two sides of the comparison stay the same network."""
GRID = SIDE // 4


def _shapes() -> list[tuple[int, ...]]:
    """Weight shapes, kernels as (height, width, in, out) and dense layers as (in, out), each followed by its bias."""
    f0, f1 = FILTERS
    return [
        (3, 3, 1, f0), (f0,), (3, 3, f0, f1), (f1,),  # encoder convolutions
        (GRID * GRID * f1, DENSE), (DENSE,), (DENSE, LATENT), (LATENT,), (DENSE, LATENT), (LATENT,),
        (LATENT, DENSE), (DENSE,), (DENSE, GRID * GRID * f1), (GRID * GRID * f1,),  # decoder dense layers
        (3, 3, f1, f0), (f0,), (3, 3, f0, 1), (1,),  # decoder convolutions
        (SIDE, SIDE, 1),  # x_log_var, per pixel
    ]  # fmt: skip


def init_params(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    params = []
    for shape in _shapes():
        if len(shape) == 1 or shape == (SIDE, SIDE, 1):
            params.append(np.zeros(shape, "float32"))
            continue
        fan_in, fan_out = math.prod(shape[:-1]), shape[-1] * (math.prod(shape[:2]) if len(shape) == 4 else 1)
        limit = math.sqrt(6 / (fan_in + fan_out))
        params.append(rng.uniform(-limit, limit, shape).astype("float32"))
    return params


# ----------------------------------------------------------------------------- JAX
def jax_image_loop(x: np.ndarray, batch: int):
    """``train_epoch()`` over images ``x`` ``(n, 28, 28, 1)``; returns the epoch's seconds."""
    import jax
    import jax.numpy as jnp

    def conv(h, k, b, stride):
        dims = ("NHWC", "HWIO", "NHWC")
        return jax.lax.conv_general_dilated(h, k, (stride, stride), "SAME", dimension_numbers=dims) + b

    def up(h):
        return jnp.repeat(jnp.repeat(h, 2, axis=1), 2, axis=2)

    def loss_fn(p, xb, eps):
        h = jax.nn.relu(conv(xb, p[0], p[1], 2))
        h = jax.nn.relu(conv(h, p[2], p[3], 2))
        h = jax.nn.relu(h.reshape(len(xb), -1) @ p[4] + p[5])
        mu, lv = h @ p[6] + p[7], jnp.clip(h @ p[8] + p[9], -12, 8)
        z = mu + jnp.exp(0.5 * lv) * eps
        g = jax.nn.relu(z @ p[10] + p[11])
        g = jax.nn.relu(g @ p[12] + p[13]).reshape(len(xb), GRID, GRID, FILTERS[1])
        g = jax.nn.relu(conv(up(g), p[14], p[15], 1))
        xm = conv(up(g), p[16], p[17], 1)
        xlv = jnp.clip(p[18], -9, 9)
        nll = HALF_LOG_2PI + 0.5 * xlv + 0.5 * jnp.square(xb - xm) * jnp.exp(-xlv)
        kl = -0.5 * jnp.sum(1 + lv - mu**2 - jnp.exp(lv), axis=-1)
        return jnp.mean(jnp.sum(nll, axis=(1, 2, 3))) + jnp.mean(kl)

    train_epoch, _ = jax_adam_trainer(init_params(), loss_fn, x, batch, LATENT)
    return train_epoch


# ----------------------------------------------------------------------------- torch
def torch_image_loop(x: np.ndarray, batch: int):
    """``train_epoch()`` over images ``x`` ``(n, 28, 28, 1)`` (moved to NCHW once); returns the epoch's seconds."""
    import torch

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")  # as Keras' torch backend picks

    def torch_layout(a: np.ndarray) -> np.ndarray:
        if a.ndim == 4:  # (h, w, in, out) -> (out, in, h, w)
            return a.transpose(3, 2, 0, 1).copy()
        if a.ndim == 3:  # the per-pixel log-variance, (h, w, 1) -> (1, h, w)
            return a.transpose(2, 0, 1).copy()
        return a.T.copy() if a.ndim == 2 else a

    p = [torch.nn.Parameter(torch.from_numpy(torch_layout(a)).to(device)) for a in init_params()]
    opt = torch.optim.Adam(p, lr=LR, eps=1e-7)
    F = torch.nn.functional

    xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).to(device)
    gen = torch.Generator(device=device).manual_seed(0)
    rng = np.random.default_rng(0)

    def train_epoch() -> float:
        start = time.perf_counter()
        for idx in _batches(len(x), batch, rng):
            xb = xt[torch.from_numpy(idx).to(device)]
            h = F.relu(F.conv2d(xb, p[0], p[1], stride=2, padding=1))
            h = F.relu(F.conv2d(h, p[2], p[3], stride=2, padding=1))
            h = F.relu(F.linear(h.flatten(1), p[4], p[5]))
            mu, lv = F.linear(h, p[6], p[7]), torch.clamp(F.linear(h, p[8], p[9]), -12, 8)
            z = mu + torch.exp(0.5 * lv) * torch.randn(len(idx), LATENT, generator=gen, device=device)
            g = F.relu(F.linear(z, p[10], p[11]))
            g = F.relu(F.linear(g, p[12], p[13])).view(len(idx), FILTERS[1], GRID, GRID)
            g = F.relu(F.conv2d(F.interpolate(g, scale_factor=2), p[14], p[15], padding=1))
            xm = F.conv2d(F.interpolate(g, scale_factor=2), p[16], p[17], padding=1)
            xlv = torch.clamp(p[18], -9, 9)
            nll = HALF_LOG_2PI + 0.5 * xlv + 0.5 * (xb - xm) ** 2 * torch.exp(-xlv)
            kl = -0.5 * torch.sum(1 + lv - mu**2 - torch.exp(lv), -1)
            loss = nll.sum((1, 2, 3)).mean() + kl.mean()
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(p, CLIPNORM)
            opt.step()
        float(loss.detach())  # wait for the device
        return time.perf_counter() - start

    return train_epoch


RAW_IMAGE_LOOPS = {"jax": jax_image_loop, "torch": torch_image_loop}
