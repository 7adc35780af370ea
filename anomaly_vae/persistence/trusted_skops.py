"""Saving and loading scikit-learn objects with skops, trusting an exact allow-list of types.

skops' own check names the types it does not trust by default, but trusting those by module prefix
(``sklearn.``, ``numpy``, ``builtins``) lets function objects through: a ``FunctionTransformer`` whose
``func`` is ``builtins.exec`` is a ``TypeNode`` of ``builtins.exec``. So we read the file's node tree
ourselves and accept only the (node kind, type) pairs the project itself writes, listed below in full.
:func:`dump` refuses to write anything else, and returns the file's types so the caller can store
them; :func:`load` refuses a file whose types differ from that stored list or leave the allow-list.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

from anomaly_vae.persistence.documents import parse_json

_NUMPY_SCALARS = (
    "float16",
    "float32",
    "float64",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "bool_",
)

ALLOWED_TYPES: frozenset[str] = frozenset(
    [
        "DictNode:builtins.dict",
        "ListNode:builtins.list",
        "TupleNode:builtins.tuple",
        "SliceNode:builtins.slice",
        "JsonNode:builtins.str",
        "TypeNode:builtins.str",
        "TypeNode:numpy.float64",
        "DTypeNode:numpy.dtype",
        "NdArrayNode:numpy.ndarray",
        *(f"NdArrayNode:numpy.{name}" for name in _NUMPY_SCALARS),
        # the fit pipeline's ColumnTransformer (pipelines/modalities/table/preprocessing.py)
        "ObjectNode:sklearn.compose._column_transformer.ColumnTransformer",
        "ObjectNode:sklearn.pipeline.Pipeline",
        "ObjectNode:sklearn.impute._base.SimpleImputer",
        "ObjectNode:sklearn.impute._base.MissingIndicator",
        "ObjectNode:sklearn.preprocessing._encoders.OneHotEncoder",
        # the detector's input scalers (VAEAnomalyDetector._make_scaler)
        "ObjectNode:sklearn.preprocessing._data.StandardScaler",
        "ObjectNode:sklearn.preprocessing._data.RobustScaler",
        "ObjectNode:sklearn.preprocessing._data.QuantileTransformer",
        "ObjectNode:sklearn.preprocessing._data.MinMaxScaler",
    ]
)
"""Every ``node kind:module.Class`` pair that a skops file written by anomaly-vae may hold. No function,
method, reduce or unknown node kind is listed, so nothing in a trusted file can name code to call."""

MAX_SCHEMA_BYTES = 50_000_000
"""A skops file's ``schema.json`` larger than this is refused before it is parsed."""


def file_types(source: str | os.PathLike | bytes) -> list[str]:
    """The sorted ``node kind:module.Class`` pairs of every node in a skops file (path or bytes)."""
    try:
        with zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source) as archive:
            info = archive.getinfo("schema.json")
            if info.file_size > MAX_SCHEMA_BYTES:
                raise ValueError(f"its schema.json is {info.file_size} bytes")
            schema = parse_json(archive.read(info), "its schema.json")
    except (OSError, KeyError, zipfile.BadZipFile, UnicodeDecodeError, json.JSONDecodeError, ValueError) as err:
        raise ValueError(f"not a readable skops file: {err}") from err
    found: set[str] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "__loader__" in node:
                found.add(f"{node['__loader__']}:{node.get('__module__')}.{node.get('__class__')}")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return sorted(found)


def dump(obj, path: str | os.PathLike) -> list[str]:
    """Write ``obj`` to ``path`` with skops; return its types (to store beside it for :func:`load`).

    Raises ``TypeError`` if ``obj`` holds a type outside :data:`ALLOWED_TYPES`: the allow-list must
    grow, in review, before the project writes a new type.
    """
    import skops.io as sio

    data = sio.dumps(obj)
    types = file_types(data)
    extra = sorted(set(types) - ALLOWED_TYPES)
    if extra:
        raise TypeError(f"Refusing to save {type(obj).__name__}: it holds types outside the allow-list: {extra}.")
    Path(path).write_bytes(data)
    return types


def load(path: str | os.PathLike, expected: list[str]):
    """Load a skops file written by :func:`dump`, if its types equal ``expected`` and are all allowed."""
    import skops.io as sio

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{str(path)!r}: file missing.")
    try:
        types = file_types(path)
    except ValueError as err:
        raise ValueError(f"{str(path)!r} is {err}") from None
    refused = sorted(set(types) - ALLOWED_TYPES)
    if refused:
        raise ValueError(f"Refusing to load {str(path)!r}: it holds types that anomaly-vae never writes: {refused}.")
    if sorted(set(expected)) != types:
        raise ValueError(
            f"Refusing to load {str(path)!r}: its types {types} differ from those recorded when it "
            f"was saved {sorted(set(expected))}."
        )
    untrusted = sio.get_untrusted_types(file=path)
    allowed_names = {t.split(":", 1)[1] for t in types}
    if not set(untrusted) <= allowed_names:  # skops names a type our walk did not see: refuse
        raise ValueError(
            f"Refusing to load {str(path)!r}: skops reports unexpected types {sorted(set(untrusted) - allowed_names)}."
        )
    try:
        return sio.load(path, trusted=untrusted)
    except Exception as err:  # a damaged array or attribute inside an otherwise allowed file
        raise ValueError(f"{str(path)!r} could not be loaded: {type(err).__name__}: {err}") from err
