"""Where an exported artifact's preprocessing contract comes from, shared by the artifact runtimes.

Order: the sidecar ``<artifact>.json`` written by ``python -m export.all``, else metadata
embedded in the artifact (ONNX ``metadata_props``, .tflite metadata), else the default
contract with a warning (the crop rule cannot be read off a bare graph).
"""
from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

from ..contract import DEFAULT_CONTRACT, PreprocessContract
from .base import ArtifactError

EMBEDDED_KEY = "edge_lmk"  # ONNX metadata_props key / .tflite metadata name


def read_sidecar(path: Path) -> dict | None:
    side = Path(f"{path}.json")
    if not side.is_file():
        return None
    try:
        meta = json.loads(side.read_text())
    except (OSError, ValueError) as e:
        raise ArtifactError(f"{side}: unreadable sidecar for {path.name} ({e})") from None
    if not isinstance(meta, dict) or "contract" not in meta:
        raise ArtifactError(f"{side}: sidecar has no 'contract' entry")
    return meta


def parse_embedded(path: Path, text: str | bytes | None) -> dict | None:
    if not text:
        return None
    try:
        meta = json.loads(text)
    except ValueError as e:
        raise ArtifactError(f"{path}: embedded {EMBEDDED_KEY!r} metadata is not JSON ({e})") from None
    return meta if isinstance(meta, dict) and "contract" in meta else None


def artifact_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, or of a directory artifact (relative paths and contents, sorted)."""
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    h = hashlib.sha256()
    for f in files:
        if path.is_dir():
            h.update(f.relative_to(path).as_posix().encode() + b"\0")
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


file_sha256 = artifact_sha256


def check_sidecar_hash(path: Path, meta: dict | None) -> None:
    """A file that loads but differs from what was exported (truncated copy, edited) is refused."""
    if meta and meta.get("sha256") and Path(path).is_file() and file_sha256(path) != meta["sha256"]:
        raise ArtifactError(f"{path}: sha256 does not match its sidecar {path.name}.json "
                            f"(truncated, modified, or the sidecar belongs to another export)")


def resolve_meta(path: Path, embedded: dict | None,
                 input_shape: tuple[int, ...] | None) -> tuple[dict, PreprocessContract]:
    """-> (metadata dict, contract). ``input_shape`` is the artifact's own input, checked against the contract."""
    meta = read_sidecar(path) or embedded
    if meta is None:
        warnings.warn(f"{path}: no sidecar {path.name}.json and no embedded contract; assuming the default "
                      f"preprocessing contract", stacklevel=3)
        meta = {"contract": DEFAULT_CONTRACT.to_dict()}
    contract = PreprocessContract.from_dict(meta["contract"])
    if input_shape is not None:
        s = contract.input_size
        if tuple(input_shape)[1:] != (3, s, s):
            raise ArtifactError(f"{path}: artifact input {tuple(input_shape)} does not match its contract "
                                f"(N, 3, {s}, {s})")
    return meta, contract
