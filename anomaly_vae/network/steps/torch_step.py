"""PyTorch training step: ``torch.autograd.grad`` of the shared ELBO, then Keras' Adam in fused kernels.

Eager PyTorch pays Python dispatch for every op, so on a small network a step is mostly overhead
(Keras' training ran at 2.5-2.9x a raw torch loop). The step therefore calls the built model's
``call`` (no ``Layer.__call__`` checks), and does two parts of ``optimizer.apply`` in torch's fused
kernels, on the optimizer's own variables and with Keras' formulas, so its state, config and
checkpoints stay Keras': the global-norm clip (two ``keras.ops`` calls per variable in Keras) and
Adam's update (seven ``_foreach`` and several scalar ops in Keras, one kernel here). It also hands the
model its reparameterisation noise from one seeded ``torch.Generator``, which ``keras.random`` would
rebuild at every draw.
"""

import weakref

import keras
import torch
from keras import ops
from keras.utils import unpack_x_y_sample_weight


class TorchELBOStep:
    """Mixin for ``VAE`` on the PyTorch backend."""

    def train_step(self, data):
        x, labels, _ = unpack_x_y_sample_weight(data)  # labels: 1 = known anomaly, or None
        x = ops.cast(x, "float32")
        noise = _training_noise(self, (self.n_members, x.shape[0], self.latent_dim), x.device)
        outputs = self.call(x, training=True, noise=noise)  # the built model's maths, without Layer.__call__'s checks
        loss, reconstruction_loss, kl_loss = self._elbo_loss(x, outputs, labels=labels)
        weights = self.trainable_weights
        adam = _adam_tensors(self.optimizer, weights)
        params = adam[0] if adam is not None else [w.value for w in weights]
        # autograd.grad returns the gradients rather than accumulating them in .grad: nothing to zero.
        grads = list(torch.autograd.grad(loss, params, allow_unused=True))
        # A convolution kernel's gradient comes back as a permuted (non-contiguous) view, which torch's
        # fused Adam kernel on CPU misreads: it trained the image VAE to nonsense. ``contiguous`` is free
        # for the (dense) gradients that already are.
        grads = [g if g is None else g.contiguous() for g in grads]
        with torch.no_grad():
            if adam is None or any(g is None for g in grads):
                self.optimizer.apply(grads, weights)
            else:
                fused_adam(self.optimizer, *adam, grads)
        return self._update_metrics(loss, reconstruction_loss, kl_loss)

    def test_step(self, data):
        x, _, _ = unpack_x_y_sample_weight(data)
        with torch.no_grad():
            outputs = self(x, training=False)
            return self._update_metrics(*self._elbo_loss(x, outputs, training=False))


def fused_adam(optimizer, params: list, momentums: list, velocities: list, grads: list) -> None:
    """Keras' ``Adam.apply`` (with its ``global_clipnorm``) on torch tensors, in fused kernels."""
    if optimizer.global_clipnorm:
        norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
        # Keras' clip_by_global_norm: scale by min(clipnorm / norm, 1), NaN when the norm is not finite.
        torch._foreach_mul_(grads, torch.clamp(optimizer.global_clipnorm / norm, max=1.0) + (norm - norm))
    step = float(optimizer.iterations.value) + 1.0  # learning_rate below reads a schedule at iterations
    # Keras adds epsilon to sqrt(v) before the bias correction, torch after it: rescaling epsilon
    # by sqrt(1 - beta_2^t) makes torch's update Keras' exactly.
    torch._fused_adam_(
        params,
        grads,
        momentums,
        velocities,
        [],
        [torch.tensor(step, device=params[0].device)] * len(params),
        lr=float(optimizer.learning_rate),
        beta1=optimizer.beta_1,
        beta2=optimizer.beta_2,
        weight_decay=0.0,
        eps=optimizer.epsilon / (1.0 - optimizer.beta_2**step) ** 0.5,
        amsgrad=False,
        maximize=False,
    )
    optimizer.iterations.value.add_(1)  # in place, as Keras' assign_add, at a tenth of its cost


_GENERATORS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _training_noise(model, shape, device):
    """Standard-normal draws for the reparameterisation, from one ``torch.Generator`` per model.

    ``keras.random.normal`` with a ``SeedGenerator`` builds and seeds a new ``torch.Generator`` at
    every draw (96 us against 11 us here). This one is seeded once from the model's ``seed_generator``,
    so a seeded model still trains reproducibly.
    """
    generator = _GENERATORS.get(model)
    if generator is None:
        generator = torch.Generator(device=device)
        generator.manual_seed(int(ops.sum(model.seed_generator.next())) & 0xFFFFFFFF)
        _GENERATORS[model] = generator
    return torch.randn(shape, generator=generator, device=device)


def rng_state(model) -> dict:
    """torch's global generator (the ``DataLoader``'s shuffle draws from it) and the model's noise generator, as
    NumPy arrays."""

    state = {"global": torch.get_rng_state().numpy().copy()}
    generator = _GENERATORS.get(model)
    if generator is not None:
        state["noise"] = generator.get_state().numpy().copy()
    return state


def set_rng_state(model, state: dict) -> None:
    """Restore :func:`rng_state`'s generators; the model's noise generator is made if it has none yet."""
    if "global" in state:
        torch.set_rng_state(torch.from_numpy(state["global"].copy()))
    if "noise" in state:
        device = model.trainable_weights[0].value.device if model.trainable_weights else "cpu"
        generator = torch.Generator(device=device)
        generator.set_state(torch.from_numpy(state["noise"].copy()))
        _GENERATORS[model] = generator


_ADAM_TENSORS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
"""Per optimizer: the weights' ids and their torch tensors, with Adam's momentums and velocities
(reading each Keras variable's ``.value`` every step cost as much as the fused update)."""


def _adam_tensors(optimizer, weights):
    key = tuple(id(w) for w in weights)
    cached = _ADAM_TENSORS.get(optimizer)
    if cached is not None and cached[0] == key:
        if cached[1] is None:
            return None  # a built optimizer found not fusable
        if all(p is w._value for p, w in zip(cached[1][0], weights)):
            return cached[1]
    if not _fusable(optimizer, weights):
        if optimizer.built:  # (the first call builds the optimizer, and it may be fusable after)
            _ADAM_TENSORS[optimizer] = (key, None)
        return None
    try:
        index = [optimizer._get_variable_index(w) for w in weights]
        tensors = (
            [w.value for w in weights],
            [optimizer._momentums[i].value for i in index],
            [optimizer._velocities[i].value for i in index],
        )
    except (AttributeError, IndexError, KeyError):  # Keras' private optimizer layout changed: its own path
        tensors = None
    _ADAM_TENSORS[optimizer] = (key, tensors)
    return tensors


def _fusable(optimizer, weights) -> bool:
    """A built ``keras.optimizers.Adam`` itself (Keras makes it a torch-backend subclass, so a
    user's subclass fails the module test), with no option the fused update leaves out."""
    return (
        isinstance(optimizer, keras.optimizers.Adam)
        and type(optimizer).__module__ == "keras.src.backend.torch.optimizers.torch_adam"
        and optimizer.built
        and hasattr(torch, "_fused_adam_")
        and not (optimizer.amsgrad or optimizer.weight_decay or optimizer.use_ema)
        and not (optimizer.clipnorm or optimizer.clipvalue or optimizer.gradient_accumulation_steps)
        and optimizer.loss_scale_factor is None
        and all(w.value.dtype == torch.float32 and w.constraint is None for w in weights)
    )


def seed_framework(seed: int) -> None:
    """Seed torch's global generator, which shuffles the training data."""
    torch.manual_seed(seed)


def device_description() -> str:
    """The device Keras' torch backend computes on, for run logs."""
    if torch.cuda.is_available():
        return f"GPU: {torch.cuda.get_device_name(0)}"
    return "CPU"
