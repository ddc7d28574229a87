"""Validation of the two JSON formats here against their schemas (``benchmarks/schema/``, JSON Schema
draft 2020-12) with the maintained ``jsonschema`` package: the same files any other validator
(ajv, the Android app's) accepts."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .files import read_json

SCHEMA_DIR = Path(__file__).resolve().parent / "schema"
SCHEMAS = {"results": "results.schema.json", "device": "device-bench.schema.json"}


class SchemaError(ValueError):
    """A document that does not match its schema; the message lists every problem with its JSON path."""


def problems(doc: Any, schema: dict) -> list[str]:
    """Every place ``doc`` breaks ``schema``, as ``$.path: message`` lines (sorted by path)."""
    from jsonschema import Draft202012Validator

    errors = sorted(Draft202012Validator(schema).iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path])
    return [f"{e.json_path}: {e.message}" for e in errors]


def load_schema(kind: str) -> dict:
    return read_json(SCHEMA_DIR / SCHEMAS[kind])


def validate(doc: Any, kind: str, source: str = "document") -> None:
    """Raise SchemaError naming ``source`` and every problem; ``kind`` is "results" or "device"."""
    errs = problems(doc, load_schema(kind))
    if errs:
        shown = "; ".join(errs[:10]) + (f"; and {len(errs) - 10} more" if len(errs) > 10 else "")
        raise SchemaError(f"{source}: not a valid {kind} file ({shown})")
