"""Checks that run on an artifact's bytes before any native runtime sees them.

Some runtimes abort the whole process on malformed input (the ExecuTorch pybindings hit
``std::terminate`` when an error message quotes non-UTF-8 bytes from the file), so a loader
first checks, in pure Python: the format's magic bytes and header sizes (``check_header``),
the sidecar's sha256 when there is a sidecar, and the seal embedded by the exporter
(``integrity``). Only then are the same bytes handed to the runtime.

An artifact that can be verified neither way is loaded with a warning, except one that carries
edge-lmk's embedded metadata without its seal: that one is damaged (or predates sealing) and
is refused.
"""
from __future__ import annotations

import json
import struct
import warnings
from pathlib import Path

from . import integrity
from .artifact_meta import check_sidecar_hash, read_sidecar
from .base import ArtifactError

# Present in every embedded record edge-lmk writes (export.artifact.SIDECAR_FORMAT); its presence without
# a seal means the seal was damaged or the artifact predates sealing.
EMBEDDED_TAG = b"edge-lmk-artifact/"
PACKAGE_TAG = b"edge-lmk-coreml/"


def _u32(data: bytes, at: int) -> int:
    return struct.unpack_from("<I", data, at)[0]


def _u64(data: bytes, at: int) -> int:
    return struct.unpack_from("<Q", data, at)[0]


def _check_flatbuffer_root(path: Path, data: bytes, ident: bytes, what: str) -> None:
    if len(data) < 8 or data[4:8] != ident:
        raise ArtifactError(f"{path}: not a valid {what} file (expected identifier {ident.decode()!r} at byte 4, "
                            f"found {data[4:8]!r})")
    if not 8 <= _u32(data, 0) < len(data):
        raise ArtifactError(f"{path}: corrupt {what} header (root offset {_u32(data, 0)} outside the "
                            f"{len(data)}-byte file)")


def check_pte(path: Path, data: bytes) -> None:
    """ExecuTorch program: flatbuffer identifier ``ET12``; the extended header ``eh00`` gives the program
    and segment sizes, which must fit in the file (a truncated copy fails here)."""
    _check_flatbuffer_root(path, data, b"ET12", "ExecuTorch .pte")
    if data[8:12] != b"eh00":
        return  # no extended header: a program without segments
    if len(data) < 32:
        raise ArtifactError(f"{path}: corrupt .pte extended header (file is {len(data)} bytes)")
    length, program_size, segment_base = _u32(data, 12), _u64(data, 16), _u64(data, 24)
    segment_size = _u64(data, 32) if length >= 32 and len(data) >= 40 else 0
    if length < 24 or program_size > len(data) or segment_base + segment_size > len(data) or (
            segment_size and segment_base < program_size):
        raise ArtifactError(f"{path}: corrupt or truncated .pte (header: program {program_size} B, segments "
                            f"{segment_size} B from offset {segment_base}; file {len(data)} B)")


def check_tflite(path: Path, data: bytes) -> None:
    _check_flatbuffer_root(path, data, b"TFL3", "LiteRT .tflite")


def check_onnx(path: Path, data: bytes) -> None:
    """An ONNX ModelProto starts with field 1 (ir_version, varint): tag byte 0x08. gzip, zip, text
    and most random bytes fail here; ONNX Runtime's own protobuf parser handles the rest safely."""
    if not data or data[0] != 0x08:
        raise ArtifactError(f"{path}: not an ONNX model (a ModelProto starts with byte 0x08, found "
                            f"{data[:1].hex() or 'an empty file'})")


HEADER_CHECKS = {".pte": check_pte, ".tflite": check_tflite, ".onnx": check_onnx}


def verified_bytes(path: Path) -> tuple[bytes, dict | None]:
    """-> (the file's bytes, its validated sidecar or None), after the header, sidecar-hash and seal checks."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path}: artifact not found")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ArtifactError(f"{path}: unreadable ({e})") from None
    HEADER_CHECKS[path.suffix.lower()](path, data)
    sidecar = read_sidecar(path)
    check_sidecar_hash(path, sidecar, data)
    sealed = integrity.check_bytes(path, data)
    if not sealed:
        _unverifiable(path, data, sidecar, EMBEDDED_TAG)
    return data, sidecar


def _unverifiable(path: Path, data: bytes, sidecar: dict | None, tag: bytes) -> None:
    if tag in data:
        if sidecar is None:
            raise ArtifactError(f"{path}: edge-lmk metadata without its integrity seal (corrupted, or exported by "
                                "an older edge-lmk: re-export it, or keep its .json sidecar beside it)")
        return  # an older export, verified by its sidecar's sha256
    if sidecar is None:
        warnings.warn(f"{path}: no sidecar and no embedded integrity seal; its contents cannot be verified",
                      stacklevel=4)


def verify_package(path: Path) -> tuple[dict | None, bool]:
    """``.mlpackage`` directory: Manifest.json readable, sidecar sha256 and seal checked.
    -> (validated sidecar or None, whether any hash verified the package)."""
    path = Path(path)
    if not path.is_dir():
        raise ArtifactError(f"{path}: not an .mlpackage directory")
    manifest = path / "Manifest.json"
    try:
        entries = json.loads(manifest.read_bytes()).get("itemInfoEntries")
    except FileNotFoundError:
        raise ArtifactError(f"{path}: no package manifest (Manifest.json)") from None
    except (OSError, ValueError, AttributeError, RecursionError) as e:
        raise ArtifactError(f"{path}: unreadable package manifest ({type(e).__name__}: {e})") from None
    if not isinstance(entries, dict) or not entries:
        raise ArtifactError(f"{path}: package manifest lists no items")
    sidecar = read_sidecar(path)
    check_sidecar_hash(path, sidecar)
    sealed = integrity.check_package(path)
    if not sealed:
        model = path / "Data/com.apple.CoreML/model.mlmodel"
        try:
            head = model.read_bytes() if model.is_file() else b""
        except OSError as e:
            raise ArtifactError(f"{path}: unreadable package ({e})") from None
        _unverifiable(path, head, sidecar, PACKAGE_TAG)
    return sidecar, sealed or sidecar is not None
