"""A small JSON Schema checker for the two formats here, so validation needs no extra package.

It implements the keywords the schemas in ``benchmarks/schema/`` use: ``type`` (one or a
list), ``properties``, ``required``, ``additionalProperties`` (bool or schema), ``items``,
``enum``, ``const``, ``minimum``, ``minItems``, ``minLength`` and local ``$ref`` to
``#/$defs/...``. The schema files themselves are standard draft 2020-12, so any full
validator (``jsonschema``, ajv, the Android app's) accepts the same documents.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .files import read_json

SCHEMA_DIR = Path(__file__).resolve().parent / "schema"
SCHEMAS = {"results": "results.schema.json", "device": "device-bench.schema.json"}
TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


class SchemaError(ValueError):
    """A document that does not match its schema; the message lists every problem with its JSON path."""


def _is_type(value: Any, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, TYPES[name])


def _check(value: Any, schema: dict, root: dict, path: str, errors: list[str]) -> None:
    if "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/$defs/"):
            raise ValueError(f"only local #/$defs refs are supported, got {ref}")
        _check(value, root["$defs"][ref.split("/")[-1]], root, path, errors)
        return
    types = schema.get("type")
    if types is not None:
        types = [types] if isinstance(types, str) else types
        if not any(_is_type(value, t) for t in types):
            errors.append(f"{path}: expected {' or '.join(types)}, got {type(value).__name__}")
            return
    if "const" in schema and value != schema["const"]:
        errors.append(f"{path}: expected {schema['const']!r}, got {value!r}")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} is not one of {schema['enum']}")
    if "minimum" in schema and _is_type(value, "number") and value < schema["minimum"]:
        errors.append(f"{path}: {value} < minimum {schema['minimum']}")
    if "minLength" in schema and isinstance(value, str) and len(value) < schema["minLength"]:
        errors.append(f"{path}: shorter than {schema['minLength']} characters")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{path}: missing required {key!r}")
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in props:
                _check(item, props[key], root, f"{path}.{key}", errors)
            elif extra is False:
                errors.append(f"{path}: unexpected property {key!r}")
            elif isinstance(extra, dict):
                _check(item, extra, root, f"{path}.{key}", errors)
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            errors.append(f"{path}: fewer than {schema['minItems']} items")
        if "items" in schema:
            for i, item in enumerate(value):
                _check(item, schema["items"], root, f"{path}[{i}]", errors)


def problems(doc: Any, schema: dict) -> list[str]:
    errors: list[str] = []
    _check(doc, schema, schema, "$", errors)
    return errors


def load_schema(kind: str) -> dict:
    return read_json(SCHEMA_DIR / SCHEMAS[kind])


def validate(doc: Any, kind: str, source: str = "document") -> None:
    """Raise SchemaError naming ``source`` and every problem; ``kind`` is "results" or "device"."""
    errs = problems(doc, load_schema(kind))
    if errs:
        shown = "; ".join(errs[:10]) + (f"; and {len(errs) - 10} more" if len(errs) > 10 else "")
        raise SchemaError(f"{source}: not a valid {kind} file ({shown})")
