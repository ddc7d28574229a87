"""How a compression config is recorded in sidecars and the manifest (JSON-safe)."""
from __future__ import annotations

from dataclasses import asdict, is_dataclass


def describe(config) -> dict:
    """``{"config": "Int8Config", "backend": "xnnpack", ...}``; paths become strings."""
    if not is_dataclass(config):
        raise TypeError(f"not a compression config: {config!r}")

    def clean(v):
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v if isinstance(v, (str, int, float, bool, type(None))) else str(v)

    return {"config": type(config).__name__, **clean(asdict(config))}
