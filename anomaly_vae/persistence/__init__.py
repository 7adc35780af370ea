"""Saving and loading, safely: nothing read from a model folder can run code.

- ``model_files``: the ``.keras`` file (atomic, Keras safe mode) and the detector folder (``detector.json``,
  ``vae.keras``, ``scaler.skops``).
- ``imputer_persistence``: the imputer's folder.
- ``trusted_skops``: skops files with an exact allow-list of types.
- ``documents``: strict JSON documents (size, depth, schema).
- ``atomic``: atomic files and folders that never replace what they were not told to.
"""
