"""The decoder's output distributions, as objects in one registry.

A likelihood names the parameters the decoder must produce (its *heads*) and gives, for data ``x`` and
those parameters, the negative log-likelihood **per element** (same shape as ``x``: a row's features, an
image's pixels), the distribution's mean (a reconstruction in the data's units) and a random draw. The
ELBO and the score rules sum the per-element terms over the event axes themselves, so one likelihood
serves rows, images and windows alike. Everything is ``keras.ops``: it runs on every backend.

Two kinds of head:

- ``row_heads``: produced by the decoder for every example (``x_mean``, and ``x_log_var`` for the
  heteroscedastic Gaussian), shaped like the example.
- ``shared_heads``: one learned array per element, the same for every example (the Gaussian's
  ``x_log_var``): a weight of the ``VAE``, shaped ``(n_members, 1, *event_shape)``.

The registry, :data:`LIKELIHOODS` by name (``VAE(likelihood=...)``, ``VAEAnomalyDetector(likelihood=...)``):

- ``gaussian``: Gaussian with a learned variance per element (the tabular default).
- ``heteroscedastic``: Gaussian whose variance the decoder predicts per example and element.
- ``mse``: Gaussian with unit variance; the NLL is half the squared error plus a constant.
- ``bernoulli``: for data in [0, 1] (pixels); the decoder outputs logits (the image default).

Whatever the likelihood, one-hot column groups of a table (``categorical_groups``) get a categorical
likelihood instead (see :class:`WithCategoricalGroups`), and a model that marginalises missing entries counts
only the observed ones (see :class:`ObservedOnly`).
"""

from __future__ import annotations

import math
from numbers import Integral

import keras
import numpy as np
from keras import ops

from anomaly_vae import choices

HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
"""The constant of the Gaussian log-density, ``log(2 pi) / 2``."""

# Bounds on the decoder's learned log-variance: a constant training column would
# otherwise drive it to -inf and every score to +/-inf.
X_LOG_VAR_MIN = -9.0
X_LOG_VAR_MAX = 9.0


def gaussian_nll(x, mean, log_var):
    """NLL of ``x`` under N(mean, exp(log_var)), per element."""
    log_var = ops.clip(log_var, X_LOG_VAR_MIN, X_LOG_VAR_MAX)
    return HALF_LOG_2PI + 0.5 * log_var + 0.5 * ops.square(x - mean) * ops.exp(-log_var)


def mse_nll(x, mean):
    """NLL of ``x`` under N(mean, 1), per element."""
    return HALF_LOG_2PI + 0.5 * ops.square(x - mean)


def bernoulli_nll(x, logits):
    """NLL of ``x`` in [0, 1] under Bernoulli(sigmoid(logits)), per element (stable form)."""
    return ops.softplus(logits) - x * logits


class Likelihood:
    """One decoder distribution: its heads, per-element NLL, mean and sampler (subclasses below)."""

    name: str = ""
    row_heads: tuple[str, ...] = ("x_mean",)
    shared_heads: tuple[str, ...] = ()
    unit_interval: bool = False
    """Whether the data must lie in [0, 1] (the tabular detector then min-max scales its inputs)."""

    def nll(self, x, params: dict):
        """Negative log-likelihood of ``x`` per element (the shape of ``x``, broadcast with ``params``)."""
        raise NotImplementedError

    def mean(self, params: dict):
        """The distribution's mean: a reconstruction in the units of the model's input."""
        return params["x_mean"]

    def sample(self, params: dict, seed=None):
        """One random draw per element (``seed``: an int or a ``keras.random.SeedGenerator``)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Gaussian(Likelihood):
    """N(x_mean, exp(x_log_var)) with one learned log-variance per element, shared by all examples."""

    name = "gaussian"
    shared_heads: tuple[str, ...] = ("x_log_var",)

    def nll(self, x, params):
        return gaussian_nll(x, params["x_mean"], params["x_log_var"])

    def sample(self, params, seed=None):
        mean = params["x_mean"]
        std = ops.exp(0.5 * ops.clip(params["x_log_var"], X_LOG_VAR_MIN, X_LOG_VAR_MAX))
        return mean + std * keras.random.normal(ops.shape(mean), dtype=mean.dtype, seed=seed)


class Heteroscedastic(Gaussian):
    """N(x_mean, exp(x_log_var)) with the log-variance predicted by the decoder per example and element."""

    name = "heteroscedastic"
    row_heads = ("x_mean", "x_log_var")
    shared_heads = ()


class MSE(Likelihood):
    """N(x_mean, 1): the squared error, as a likelihood."""

    name = "mse"

    def nll(self, x, params):
        return mse_nll(x, params["x_mean"])

    def sample(self, params, seed=None):
        mean = params["x_mean"]
        return mean + keras.random.normal(ops.shape(mean), dtype=mean.dtype, seed=seed)


class Bernoulli(Likelihood):
    """Bernoulli(sigmoid(x_mean)): ``x_mean`` holds logits; data in [0, 1] (grey levels count as
    soft targets, as in the VAE literature on MNIST)."""

    name = "bernoulli"
    unit_interval = True

    def nll(self, x, params):
        return bernoulli_nll(x, params["x_mean"])

    def mean(self, params):
        return ops.sigmoid(params["x_mean"])

    def sample(self, params, seed=None):
        p = ops.sigmoid(params["x_mean"])
        return ops.cast(keras.random.uniform(ops.shape(p), dtype=p.dtype, seed=seed) < p, p.dtype)


LIKELIHOODS: dict[str, type[Likelihood]] = {cls.name: cls for cls in (Gaussian, Heteroscedastic, MSE, Bernoulli)}
"""The registry: likelihood name -> class. Its keys are :data:`anomaly_vae.choices.LIKELIHOODS`."""

assert tuple(LIKELIHOODS) == choices.LIKELIHOODS, "choices.LIKELIHOODS must list the registry's names"


def get(name: str, categorical_groups=(), n_features: int | None = None, missing: bool = False) -> Likelihood:
    """The likelihood named ``name``; with ``categorical_groups``, wrapped so those one-hot columns get a
    categorical likelihood; with ``missing``, wrapped so NaN entries are marginalised (:class:`ObservedOnly`)."""
    if name not in LIKELIHOODS:
        raise ValueError(f"likelihood must be one of {choices.LIKELIHOODS}, got {name!r}.")
    out = LIKELIHOODS[name]()
    if categorical_groups:
        if n_features is None:
            raise ValueError("categorical_groups need n_features, the width of the examples they index.")
        out = WithCategoricalGroups(out, categorical_groups, n_features)
    return ObservedOnly(out) if missing else out


def check_groups(groups, n_features: int) -> tuple[tuple[int, ...], ...]:
    """Validate one-hot column groups: integer indices in range, each group non-empty, no column twice."""
    out: list = []
    seen: set[int] = set()
    for group in groups or ():
        group = tuple(group)
        if not group or not all(isinstance(c, Integral) and not isinstance(c, bool) for c in group):
            raise ValueError(f"categorical_groups must be non-empty sequences of column indices, got {group!r}.")
        group = tuple(int(c) for c in group)
        bad = [c for c in group if not 0 <= c < n_features]
        if bad:
            raise ValueError(f"categorical_groups: column(s) {bad} out of range for {n_features} features.")
        twice = seen.intersection(group)
        if twice or len(set(group)) < len(group):
            raise ValueError(f"categorical_groups: column(s) {sorted(twice) or group} appear more than once.")
        seen.update(group)
        out.append(group)
    return tuple(out)


class WithCategoricalGroups(Likelihood):
    """A table's likelihood: ``base`` on the plain columns, a categorical on each one-hot column group.

    The decoder's ``x_mean`` outputs for a group are logits, and the group's NLL, -log softmax(logits)
    [category], is put on the column of the row's category. An all-zero row (a category unseen in training)
    gets the NLL of the group's least likely category, spread evenly over its columns: at least as unusual
    as any category the model knows.
    """

    def __init__(self, base: Likelihood, groups, n_features: int):
        self.base = base
        self.name = base.name
        self.row_heads, self.shared_heads = base.row_heads, base.shared_heads
        self.groups = [list(g) for g in check_groups(groups, n_features)]
        columns = [c for g in self.groups for c in g]
        self.placement = np.zeros((len(columns), n_features), dtype="float32")  # group columns -> their places
        self.placement[np.arange(len(columns)), columns] = 1.0
        self.mask = np.zeros(n_features, dtype=bool)
        self.mask[columns] = True

    def categorical_nll(self, x, logits):
        """Per-column NLL ``(..., d)`` of the groups' categorical terms, zero on the other columns."""
        parts = []
        for g in self.groups:
            xg, nll = ops.take(x, g, axis=-1), -ops.log_softmax(ops.take(logits, g, axis=-1), axis=-1)
            unseen = 1.0 - ops.sum(xg, axis=-1, keepdims=True)
            parts.append(xg * nll + unseen * ops.max(nll, axis=-1, keepdims=True) / len(g))
        return ops.matmul(ops.concatenate(parts, axis=-1), ops.convert_to_tensor(self.placement))

    def nll(self, x, params):
        mask = ops.convert_to_tensor(self.mask)
        return ops.where(mask, self.categorical_nll(x, params["x_mean"]), self.base.nll(x, params))

    def _group_probabilities(self, logits):
        parts = [ops.softmax(ops.take(logits, g, axis=-1), axis=-1) for g in self.groups]
        return ops.matmul(ops.concatenate(parts, axis=-1), ops.convert_to_tensor(self.placement))

    def mean(self, params):
        """The base mean on plain columns; each group's category probabilities on its columns."""
        mask = ops.convert_to_tensor(self.mask)
        return ops.where(mask, self._group_probabilities(params["x_mean"]), self.base.mean(params))

    def sample(self, params, seed=None):
        """Base draws on plain columns; one category per group, one-hot (Gumbel-max on the logits)."""
        logits = params["x_mean"]
        gumbel = -ops.log(-ops.log(keras.random.uniform(ops.shape(logits), 1e-7, 1.0, dtype=logits.dtype, seed=seed)))
        noisy = logits + gumbel
        parts = [
            ops.one_hot(ops.argmax(ops.take(noisy, g, axis=-1), axis=-1), len(g), dtype=logits.dtype)
            for g in self.groups
        ]
        onehot = ops.matmul(ops.concatenate(parts, axis=-1), ops.convert_to_tensor(self.placement))
        return ops.where(ops.convert_to_tensor(self.mask), onehot, self.base.sample(params, seed))

    def __repr__(self) -> str:
        return f"WithCategoricalGroups({self.base!r}, {self.groups})"


class ObservedOnly(Likelihood):
    """``base`` on the observed entries only: a NaN entry is missing and contributes nothing to the NLL.

    Summing the per-element NLL then gives -log p(x_observed | z): the missing entries are marginalised out
    exactly, because the likelihood factorises over elements given z (MIWAE, Mattei & Frellsen 2019). The NaN
    never reaches the base NLL (it is replaced by 0 first), so the gradients stay finite.
    """

    def __init__(self, base: Likelihood):
        self.base = base
        self.name = base.name
        self.row_heads, self.shared_heads, self.unit_interval = base.row_heads, base.shared_heads, base.unit_interval

    def nll(self, x, params):
        observed = ops.isfinite(x)
        return ops.where(observed, self.base.nll(ops.where(observed, x, ops.zeros_like(x)), params), 0.0)

    def mean(self, params):
        return self.base.mean(params)

    def sample(self, params, seed=None):
        return self.base.sample(params, seed)

    def __repr__(self) -> str:
        return f"ObservedOnly({self.base!r})"
