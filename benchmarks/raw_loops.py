"""Hand-written training loops and scorers of the benchmark VAE, one per framework: the speed reference.

Same network as ``VAE(n_features=d, latent_dim=8, hidden_units=(64, 32))``: Gaussian decoder with a
learned per-feature log-variance, closed-form KL, Adam with global gradient-norm clipping at 10, and
``z_log_var``/``x_log_var`` clipped as in the library. Only benchmarks import the frameworks directly.
"""

from __future__ import annotations

import math
import time

import numpy as np

from anomaly_vae.network.likelihoods import HALF_LOG_2PI

HIDDEN, LATENT, LR, CLIPNORM = (64, 32), 8, 1e-3, 10.0


def layer_shapes(d: int) -> list[tuple[int, int]]:
    enc = [(d, HIDDEN[0]), (HIDDEN[0], HIDDEN[1])]
    heads = [(HIDDEN[1], LATENT), (HIDDEN[1], LATENT)]
    dec = [(LATENT, HIDDEN[1]), (HIDDEN[1], HIDDEN[0]), (HIDDEN[0], d)]
    return enc + heads + dec


def init_params(d: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in layer_shapes(d):
        limit = math.sqrt(6 / (fan_in + fan_out))
        params += [rng.uniform(-limit, limit, (fan_in, fan_out)).astype("float32"), np.zeros(fan_out, "float32")]
    return params + [np.zeros(d, "float32")]  # x_log_var


def chunks(xs: np.ndarray, size: int):
    """Fixed-size chunks of ``xs`` (the last one zero-padded), so a compiled scorer sees one shape."""
    for i in range(0, len(xs), size):
        chunk = xs[i : i + size]
        if len(chunk) < size:
            chunk = np.concatenate([chunk, np.zeros((size - len(chunk), xs.shape[1]), xs.dtype)])
        yield chunk


def _batches(n: int, batch: int, rng: np.random.Generator):
    perm = rng.permutation(n)
    return [perm[i : i + batch] for i in range(0, n, batch)]


# ----------------------------------------------------------------------------- JAX
def jax_adam_trainer(params: list[np.ndarray], loss_fn, x: np.ndarray, batch: int, latent: int):
    """``train_epoch()`` (the epoch's seconds) of a hand-written jitted Adam loop with global-norm clipping at
    ``CLIPNORM``, over ``loss_fn(params, batch, eps)`` with standard-normal ``eps`` ``(batch, latent)``, and the
    loop's live state (``state[0]`` holds the current parameters)."""
    import jax
    import jax.numpy as jnp

    @jax.jit
    def step(p, m, v, t, key, xb):
        key, sub = jax.random.split(key)
        loss, g = jax.value_and_grad(loss_fn)(p, xb, jax.random.normal(sub, (xb.shape[0], latent)))
        norm = jnp.sqrt(sum(jnp.sum(gi**2) for gi in g))
        scale = jnp.minimum(1.0, CLIPNORM / (norm + 1e-6))
        t = t + 1
        m = [0.9 * mi + 0.1 * gi * scale for mi, gi in zip(m, g)]
        v = [0.999 * vi + 0.001 * (gi * scale) ** 2 for vi, gi in zip(v, g)]
        lr = LR * jnp.sqrt(1 - 0.999**t) / (1 - 0.9**t)
        p = [pi - lr * mi / (jnp.sqrt(vi) + 1e-7) for pi, mi, vi in zip(p, m, v)]
        return p, m, v, t, key, loss

    p = [jnp.asarray(a) for a in params]
    m, v = [jnp.zeros_like(a) for a in p], [jnp.zeros_like(a) for a in p]
    state = [p, m, v, jnp.float32(0), jax.random.PRNGKey(0)]
    rng = np.random.default_rng(0)

    def train_epoch() -> float:
        start = time.perf_counter()
        for idx in _batches(len(x), batch, rng):
            *state[:], loss = step(*state, x[idx])
        loss.block_until_ready()
        return time.perf_counter() - start

    return train_epoch, state


def jax_loop(x: np.ndarray, batch: int):
    import jax
    import jax.numpy as jnp

    def forward(p, xb, eps):
        h = jax.nn.relu(xb @ p[0] + p[1])
        h = jax.nn.relu(h @ p[2] + p[3])
        mu, lv = h @ p[4] + p[5], jnp.clip(h @ p[6] + p[7], -12, 8)
        z = mu + jnp.exp(0.5 * lv) * eps
        g = jax.nn.relu(z @ p[8] + p[9])
        g = jax.nn.relu(g @ p[10] + p[11])
        return g @ p[12] + p[13], jnp.clip(p[14], -9, 9), mu, lv

    def elbo_terms(p, xb, eps):
        xm, xlv, mu, lv = forward(p, xb, eps)
        nll = HALF_LOG_2PI + 0.5 * xlv + 0.5 * jnp.square(xb - xm) * jnp.exp(-xlv)
        kl = -0.5 * jnp.sum(1 + lv - mu**2 - jnp.exp(lv), axis=-1)
        return nll, kl

    def loss_fn(p, xb, eps):
        nll, kl = elbo_terms(p, xb, eps)
        return jnp.mean(jnp.sum(nll, -1)) + jnp.mean(kl)

    train_epoch, state = jax_adam_trainer(init_params(x.shape[1]), loss_fn, x, batch, LATENT)

    noise = jax.random.normal(jax.random.PRNGKey(1), (16, LATENT))

    @jax.jit
    def score(xb):
        p = state[0]
        h = jax.nn.relu(jax.nn.relu(xb @ p[0] + p[1]) @ p[2] + p[3])
        mu, lv = h @ p[4] + p[5], jnp.clip(h @ p[6] + p[7], -12, 8)
        z = (mu[:, None] + jnp.exp(0.5 * lv)[:, None] * noise[None]).reshape(-1, LATENT)
        g = jax.nn.relu(jax.nn.relu(z @ p[8] + p[9]) @ p[10] + p[11])
        xm = (g @ p[12] + p[13]).reshape(xb.shape[0], -1, xb.shape[1])
        xlv = jnp.clip(p[14], -9, 9)
        nll = HALF_LOG_2PI + 0.5 * xlv + 0.5 * jnp.square(xb[:, None] - xm) * jnp.exp(-xlv)
        return jnp.sum(jnp.mean(nll, 1), -1) - 0.5 * jnp.sum(1 + lv - mu**2 - jnp.exp(lv), -1)

    def scorer(xs, chunk):
        return np.concatenate([np.asarray(score(c)) for c in chunks(xs, chunk)])[: len(xs)]

    return train_epoch, scorer


# ----------------------------------------------------------------------- TensorFlow
def tensorflow_loop(x: np.ndarray, batch: int):
    import tensorflow as tf

    p = [tf.Variable(a) for a in init_params(x.shape[1])]
    m = [tf.Variable(tf.zeros_like(a)) for a in p]
    v = [tf.Variable(tf.zeros_like(a)) for a in p]
    t = tf.Variable(0.0)
    gen = tf.random.Generator.from_seed(0)

    def encode(xb):
        h = tf.nn.relu(tf.nn.relu(xb @ p[0] + p[1]) @ p[2] + p[3])
        return h @ p[4] + p[5], tf.clip_by_value(h @ p[6] + p[7], -12.0, 8.0)

    def decode(z):
        return tf.nn.relu(tf.nn.relu(z @ p[8] + p[9]) @ p[10] + p[11]) @ p[12] + p[13]

    @tf.function(jit_compile=True)
    def step(xb, eps):
        with tf.GradientTape() as tape:
            mu, lv = encode(xb)
            xm = decode(mu + tf.exp(0.5 * lv) * eps)
            xlv = tf.clip_by_value(p[14], -9.0, 9.0)
            nll = HALF_LOG_2PI + 0.5 * xlv + 0.5 * tf.square(xb - xm) * tf.exp(-xlv)
            kl = -0.5 * tf.reduce_sum(1 + lv - mu**2 - tf.exp(lv), -1)
            loss = tf.reduce_mean(tf.reduce_sum(nll, -1)) + tf.reduce_mean(kl)
        g, _ = tf.clip_by_global_norm(tape.gradient(loss, p), CLIPNORM)
        t.assign_add(1.0)
        lr = LR * tf.sqrt(1 - 0.999**t) / (1 - 0.9**t)
        for pi, mi, vi, gi in zip(p, m, v, g):
            mi.assign(0.9 * mi + 0.1 * gi)
            vi.assign(0.999 * vi + 0.001 * gi**2)
            pi.assign_sub(lr * mi / (tf.sqrt(vi) + 1e-7))
        return loss

    rng = np.random.default_rng(0)

    def train_epoch() -> float:
        start = time.perf_counter()
        for idx in _batches(len(x), batch, rng):
            loss = step(tf.constant(x[idx]), gen.normal((len(idx), LATENT)))
        float(loss)
        return time.perf_counter() - start

    noise = tf.constant(np.random.default_rng(1).normal(size=(16, LATENT)).astype("float32"))

    @tf.function(jit_compile=True)
    def score(xb):
        mu, lv = encode(xb)
        z = tf.reshape(mu[:, None] + tf.exp(0.5 * lv)[:, None] * noise[None], (-1, LATENT))
        xm = tf.reshape(decode(z), (tf.shape(xb)[0], -1, xb.shape[1]))
        xlv = tf.clip_by_value(p[14], -9.0, 9.0)
        nll = HALF_LOG_2PI + 0.5 * xlv + 0.5 * tf.square(xb[:, None] - xm) * tf.exp(-xlv)
        return tf.reduce_sum(tf.reduce_mean(nll, 1), -1) - 0.5 * tf.reduce_sum(1 + lv - mu**2 - tf.exp(lv), -1)

    def scorer(xs, chunk):
        return np.concatenate([score(tf.constant(c)).numpy() for c in chunks(xs, chunk)])[: len(xs)]

    return train_epoch, scorer


# --------------------------------------------------------------------------- PyTorch
def torch_loop(x: np.ndarray, batch: int):
    import torch

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")  # as Keras' torch backend picks
    p = [
        torch.nn.Parameter(torch.from_numpy(a.T.copy() if a.ndim == 2 else a.copy()).to(device))
        for a in init_params(x.shape[1])
    ]
    opt = torch.optim.Adam(p, lr=LR, eps=1e-7)
    F = torch.nn.functional

    def encode(xb):
        h = F.relu(F.linear(F.relu(F.linear(xb, p[0], p[1])), p[2], p[3]))
        return F.linear(h, p[4], p[5]), torch.clamp(F.linear(h, p[6], p[7]), -12, 8)

    def decode(z):
        return F.linear(F.relu(F.linear(F.relu(F.linear(z, p[8], p[9])), p[10], p[11])), p[12], p[13])

    xt = torch.from_numpy(x).to(device)
    gen = torch.Generator(device=device).manual_seed(0)
    rng = np.random.default_rng(0)

    def train_epoch() -> float:
        start = time.perf_counter()
        for idx in _batches(len(x), batch, rng):
            xb = xt[torch.from_numpy(idx).to(device)]
            mu, lv = encode(xb)
            xm = decode(mu + torch.exp(0.5 * lv) * torch.randn(len(idx), LATENT, generator=gen, device=device))
            xlv = torch.clamp(p[14], -9, 9)
            nll = HALF_LOG_2PI + 0.5 * xlv + 0.5 * (xb - xm) ** 2 * torch.exp(-xlv)
            kl = -0.5 * torch.sum(1 + lv - mu**2 - torch.exp(lv), -1)
            loss = nll.sum(-1).mean() + kl.mean()
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(p, CLIPNORM)
            opt.step()
        float(loss.detach())  # wait for the device
        return time.perf_counter() - start

    noise = torch.from_numpy(np.random.default_rng(1).normal(size=(16, LATENT)).astype("float32")).to(device)

    @torch.no_grad()
    def score(xb):
        mu, lv = encode(xb)
        z = (mu[:, None] + torch.exp(0.5 * lv)[:, None] * noise[None]).reshape(-1, LATENT)
        xm = decode(z).reshape(xb.shape[0], -1, xb.shape[1])
        xlv = torch.clamp(p[14], -9, 9)
        nll = HALF_LOG_2PI + 0.5 * xlv + 0.5 * (xb[:, None] - xm) ** 2 * torch.exp(-xlv)
        return nll.mean(1).sum(-1) - 0.5 * torch.sum(1 + lv - mu**2 - torch.exp(lv), -1)

    def scorer(xs, chunk):
        return np.concatenate([score(torch.from_numpy(c).to(device)).cpu().numpy() for c in chunks(xs, chunk)])[
            : len(xs)
        ]

    return train_epoch, scorer


RAW_LOOPS = {"jax": jax_loop, "tensorflow": tensorflow_loop, "torch": torch_loop}
