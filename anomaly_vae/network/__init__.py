"""The network: the Keras ``VAE`` and what it is built from.

- ``vae``: the ``VAE`` model (encoder part, reparameterisation, decoder part, likelihood), its ``train_step``
  dispatched to ``steps/``.
- ``elbo``: the one backend-agnostic ELBO (negative log-likelihood + beta KL, summed over event axes).
- ``known_anomalies``: the loss when some anomalies are labelled (the normal rows' ELBO + a deviation hinge).
- ``likelihoods``: the decoder distributions, one object each (``nll`` per element, ``mean``, ``sample``).
- ``dense_parts``, ``conv_parts``: the encoder/decoder parts for tables and series (dense) and images (convolutions).
- ``member_dense``: the dense layer with a leading ensemble-member axis.
- ``initializers``, ``seeds``: seeded NumPy weight initialisers, so every backend starts from the same weights.
- ``loss_tracker``, ``callbacks``: the loss metrics and the training callbacks (KL warm-up, progress, non-finite loss).
- ``resume``: what a resumed fit needs beside Keras' checkpoint (the generators' and early stopping's states).
- ``size_limits``: bounds on a network's size, checked before anything is allocated.
- ``steps/``: one training step per backend, the only code that imports tensorflow, jax or torch.
"""
