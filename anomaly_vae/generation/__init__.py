"""Generation: what the VAE makes rather than scores.

- ``generative``: encode, decode, reconstruct, sample and interpolate, shared by the detectors.
- ``latent_mixture``: where samples come from (a Gaussian mixture on the training codes).
- ``column_support``: where a table's sampled values may lie (decimals and range of each column).
- ``imputation``: importance-weighted conditional means and draws for missing entries.
"""
