"""A SHA-256 seal inside an exported artifact, so a damaged copy is caught without its sidecar.

The metadata each exporter embeds (``export.artifact.contract_json``; a Core ML metadata entry)
holds ``"integrity":"sha256:<64 hex>"``. The digest covers every byte of the artifact with those
64 hex digits read as zeros, so writing it in place does not change what it covers, and the
layout of the file (flatbuffer offsets, protobuf lengths) does not move: the exporter writes
zeros, serializes, hashes, then overwrites the zeros with the digest (``seal``).

Checking needs no parser: find the marker in the raw bytes, zero the digest, hash. It runs
before any native runtime sees the bytes, so flipped, truncated or spliced files are refused
by name instead of reaching code that may abort the process on them.
For a directory artifact (``.mlpackage``) the digest covers the sorted relative paths and
contents of all its files, with the digest zeroed in the one file that holds it.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from .base import ArtifactError

FIELD = "integrity"
PREFIX = "sha256:"
MARKER = f'"{FIELD}":"{PREFIX}'.encode()
DIGITS = 64
PLACEHOLDER = PREFIX + "0" * DIGITS  # what exporters embed before ``seal``
_ZERO = b"0" * DIGITS


def find_digest(data: bytes) -> int | None:
    """Offset of the 64 digest characters in ``data``, None when it holds no seal.

    Raises ValueError when the marker occurs twice (a spliced file, or metadata embedded twice)."""
    at = data.find(MARKER)
    if at < 0:
        return None
    if data.find(MARKER, at + 1) >= 0:
        raise ValueError(f"the integrity marker {MARKER.decode()!r} occurs more than once")
    start = at + len(MARKER)
    if len(data) < start + DIGITS:
        raise ValueError("the integrity digest is cut off")
    return start


def _hash_zeroed(h, data: bytes, start: int | None) -> None:
    if start is None:
        h.update(data)
    else:
        h.update(data[:start])
        h.update(_ZERO)
        h.update(data[start + DIGITS:])


def digest(data: bytes, start: int) -> str:
    h = hashlib.sha256()
    _hash_zeroed(h, data, start)
    return h.hexdigest()


def seal(data: bytes) -> bytes:
    """Write the digest over the placeholder; ``data`` must hold exactly one zeroed seal."""
    start = find_digest(data)
    if start is None or data[start:start + DIGITS] != _ZERO:
        raise ValueError("no integrity placeholder to seal (embed export.artifact.contract_json first)")
    return data[:start] + digest(data, start).encode() + data[start + DIGITS:]


def _stored(path: Path, data: bytes, start: int) -> str:
    stored = data[start:start + DIGITS]
    try:
        return stored.decode("ascii")
    except UnicodeDecodeError:
        raise ArtifactError(f"{path}: embedded integrity digest is not hex (corrupted)") from None


def check_bytes(path: Path, data: bytes) -> bool:
    """True when ``data`` carries a seal that matches, False when it has none; a mismatch raises."""
    try:
        start = find_digest(data)
    except ValueError as e:
        raise ArtifactError(f"{path}: {e} (corrupted or spliced)") from None
    if start is None:
        return False
    if _stored(path, data, start) != digest(data, start):
        raise ArtifactError(f"{path}: contents do not match the sha256 sealed inside it "
                            f"(corrupted or modified after export)")
    return True


def _package_files(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file())


def package_digest(path: Path, zeroed: dict[Path, int]) -> str:
    """Digest of a directory artifact: relative path + contents of each file, digests zeroed where given."""
    h = hashlib.sha256()
    for f in _package_files(path):
        h.update(f.relative_to(path).as_posix().encode() + b"\0")
        _hash_zeroed(h, f.read_bytes(), zeroed.get(f))
    return h.hexdigest()


def _locate_in_package(path: Path) -> dict[Path, int]:
    found: dict[Path, int] = {}
    for f in _package_files(path):
        start = find_digest(f.read_bytes())
        if start is not None:
            found[f] = start
    if len(found) > 1:
        raise ValueError(f"integrity markers in {len(found)} files")
    return found


def seal_package(path: Path) -> str:
    """Seal a directory artifact in place (one of its files holds the placeholder); returns the digest."""
    path = Path(path)
    found = _locate_in_package(path)
    if not found:
        raise ValueError(f"{path}: no integrity placeholder in any file of the package")
    (f, start), = found.items()
    data = f.read_bytes()
    if data[start:start + DIGITS] != _ZERO:
        raise ValueError(f"{f}: integrity digest already written")
    value = package_digest(path, found)
    f.write_bytes(data[:start] + value.encode() + data[start + DIGITS:])
    return value


def check_package(path: Path) -> bool:
    """``check_bytes`` for a directory artifact."""
    path = Path(path)
    try:
        found = _locate_in_package(path)
    except ValueError as e:
        raise ArtifactError(f"{path}: {e} (corrupted or spliced)") from None
    except OSError as e:
        raise ArtifactError(f"{path}: unreadable package ({e})") from None
    if not found:
        return False
    (f, start), = found.items()
    if _stored(path, f.read_bytes(), start) != package_digest(path, found):
        raise ArtifactError(f"{path}: contents do not match the sha256 sealed inside it "
                            f"(corrupted or modified after export)")
    return True
