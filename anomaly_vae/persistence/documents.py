"""The JSON documents of a saved model folder, read strictly: one line naming the file and the field.

A model folder may come from anyone, so ``detector.json`` and ``bundle.json`` are validated in
full against a JSON Schema (with the ``jsonschema`` package) before any value is used: a missing,
extra or mistyped field is refused, never met later as a ``KeyError`` or ``TypeError``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

MAX_DOCUMENT_BYTES = 50_000_000

MAX_JSON_DEPTH = 256
"""The deepest nesting of arrays and objects a JSON document from a model folder may have; deeper ones are refused
before parsing (Python's parser recurses, and 100,000 brackets end in a ``RecursionError``)."""


def json_depth(text: str) -> int:
    """The deepest nesting of ``[`` and ``{`` in JSON ``text``, brackets inside strings not counted."""
    import re

    depth = deepest = 0
    for bracket in re.finditer(r'"(?:[^"\\]|\\.)*"|([\[{])|([\]}])', text):
        if bracket.group(1):
            depth += 1
            deepest = max(deepest, depth)
        elif bracket.group(2):
            depth -= 1
    return deepest


def parse_json(text: str | bytes, where: str):
    """``text`` parsed as JSON from an untrusted file: nesting deeper than :data:`MAX_JSON_DEPTH`, a key given twice
    in one object, and ``NaN``/``Infinity`` are refused (``ValueError`` naming ``where``)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    openers = text.count("[") + text.count("{")  # fewer openers than the limit cannot nest past it: no scan
    if openers > MAX_JSON_DEPTH and json_depth(text) > MAX_JSON_DEPTH:
        raise ValueError(f"{where} nests arrays or objects deeper than {MAX_JSON_DEPTH} levels.")

    def refuse_constant(name):
        raise ValueError(f"{where} holds {name}, which no anomaly-vae model writes.")

    def unique_keys(pairs):
        result = dict(pairs)
        if len(result) < len(pairs):
            seen = set()
            repeated = next(k for k, _ in pairs if k in seen or seen.add(k))
            raise ValueError(f"{where} gives the key {repeated!r} twice in one object.")
        return result

    return json.loads(text, parse_constant=refuse_constant, object_pairs_hook=unique_keys)


def strings(**extra) -> dict:
    return {"type": "array", "items": {"type": "string"}, **extra}


def numbers(**extra) -> dict:
    return {"type": "array", "items": {"type": "number"}, **extra}


def strict_object(properties: dict, **extra) -> dict:
    """A JSON Schema object with exactly ``properties``, all required, nothing else."""
    return {
        "type": "object",
        "properties": properties,
        "required": sorted(properties),
        "additionalProperties": False,
        **extra,
    }


def read_document(path: str | os.PathLike, schema: dict, what: str) -> dict:
    """``path`` parsed as JSON and checked against ``schema``; ``ValueError`` naming the file and field.

    A document of another format version (``schema``'s ``format`` constant or enum) gets its own message, naming
    the ``what`` ("bundle", "detector") and both versions, before the rest of the check.
    """
    import jsonschema

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{str(path)!r}: file missing.")
    if path.stat().st_size > MAX_DOCUMENT_BYTES:
        raise ValueError(f"{str(path)!r} is larger than {MAX_DOCUMENT_BYTES} bytes.")

    try:
        doc = parse_json(path.read_text(encoding="utf-8"), repr(str(path)))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{str(path)!r} is not valid JSON: {err}") from None
    spec = schema["properties"]["format"]
    versions = spec["enum"] if "enum" in spec else [spec["const"]]
    if isinstance(doc, dict) and "format" in doc and doc["format"] not in versions:
        raise ValueError(
            f"{str(path.parent)!r} was written in {what} format {doc.get('format')!r} "
            f"(anomaly-vae {doc.get('anomaly_vae_version')}); this version reads format "
            f"{' or '.join(map(str, versions))}."
        )
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(doc))
    if error is not None:
        where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
        raise ValueError(f"{str(path)!r}: field {where}: {error.message}.")
    return doc


def check_finite_numbers(values, path, field: str) -> None:
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"{str(path)!r}: field {field}: holds a non-finite number.")
