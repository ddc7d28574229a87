"""Writing artifacts so that no reader ever sees half of one, plus their sidecar and hash.

Every artifact is built under a hidden temporary name in its final directory and renamed
into place with ``os.replace`` (atomic on one file system). Temporary names all match
``TEMP_GLOB`` so a run killed with SIGKILL (where no ``finally`` runs) is cleaned up by
``remove_stale_temps`` at the start of the next one; that also removes the hidden ``.*.tmp``
names of ``atomic_write_bytes`` (sidecars, manifest) and of exporters with their own staging.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from edge_lmk.confidence import calibration_metadata
from edge_lmk.files import atomic_write_bytes
from edge_lmk.models import ModelSpec
from edge_lmk.runtimes import integrity
from edge_lmk.files import sha256, size_on_disk

SIDECAR_FORMAT = "edge-lmk-artifact/1"
TEMP_MARK = ".partial"
TEMP_GLOB = f".*{TEMP_MARK}*"
STALE_GLOBS = (TEMP_GLOB, ".*.tmp")


def artifact_name(spec: ModelSpec, precision: str, suffix: str, variant: str = "") -> str:
    """``laplacekl_w1_8_fp16.tflite``; ``variant`` separates two rows with the same suffix."""
    return f"{spec.name}_{precision}{'_' + variant if variant else ''}{suffix}"


def resolve_out(out: Path, spec: ModelSpec, precision: str, suffix: str, variant: str = "") -> Path:
    """``out`` is a directory (artifact named by ``artifact_name``) or the artifact path itself."""
    out = Path(out)
    if out.suffix.lower() == suffix:
        out.parent.mkdir(parents=True, exist_ok=True)
        return out
    out.mkdir(parents=True, exist_ok=True)
    return out / artifact_name(spec, precision, suffix, variant)


def sidecar_path(artifact: Path) -> Path:
    return Path(f"{artifact}.json")


def temp_path(final: Path) -> Path:
    """Hidden sibling of ``final`` that keeps its suffix, so runtimes that sniff it still work."""
    return final.with_name(f".{final.stem}.{uuid.uuid4().hex[:8]}{TEMP_MARK}{final.suffix}")


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    elif p.exists() or p.is_symlink():
        p.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_artifact(final: Path) -> Iterator[Path]:
    """Yield a temporary path to build ``final`` at (file or directory); rename it into place on success.

    On any exception, KeyboardInterrupt included, the temporary is removed and ``final`` is
    left as it was. A directory artifact (``.mlpackage``) replaces an old one through a
    second temporary name because ``os.replace`` cannot overwrite a non-empty directory.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(final)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"{tmp}: exporter produced nothing")
        if tmp.is_dir() and final.exists():
            old = temp_path(final)
            os.replace(final, old)
            try:
                os.replace(tmp, final)
            except BaseException:
                os.replace(old, final)  # put the previous artifact back rather than lose it
                raise
            _remove(old)
        else:
            if tmp.is_file():
                os.chmod(tmp, 0o644)
            os.replace(tmp, final)
    finally:
        _remove(tmp)


def save_bytes(final: Path, data: bytes, check: Callable[[Path], None] | None = None) -> Path:
    """Write ``data`` to ``final`` atomically; ``check(tmp)`` runs on the complete temporary
    file first (the smoke run), so a file that does not load never reaches ``final``."""
    with atomic_artifact(final) as tmp:
        tmp.write_bytes(data)
        if check is not None:
            check(tmp)
    return final


def remove_stale_temps(directory: Path) -> list[Path]:
    """Delete temporaries left by a run that was killed before its cleanup could run."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    stale = sorted({p for pattern in STALE_GLOBS for p in directory.glob(pattern)})
    for p in stale:
        _remove(p)
    return stale


def sidecar(artifact: Path, spec: ModelSpec, fmt: str, precision: str, extra: dict | None = None) -> dict:
    """The sidecar record: contract, model identity, precision and the artifact's hash."""
    artifact = Path(artifact)
    return {
        "schema": SIDECAR_FORMAT,
        "artifact": artifact.name,
        "model": spec.name,
        "width": str(spec.width),
        "loss": spec.loss,
        "format": fmt,
        "precision": precision,
        "bytes": size_on_disk(artifact),
        "sha256": sha256(artifact),
        "config": spec.config(),
        "contract": spec.contract.to_dict(),
        **calibration_metadata(spec.name),  # scale -> expected error / quality table (edge_lmk.confidence)
        **(extra or {}),
    }


def write_sidecar(artifact: Path, spec: ModelSpec, fmt: str, precision: str, extra: dict | None = None) -> Path:
    """Write ``<artifact>.json`` atomically; returns its path."""
    path = sidecar_path(artifact)
    record = sidecar(artifact, spec, fmt, precision, extra)
    atomic_write_bytes(path, (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())
    return path


def contract_json(spec: ModelSpec, fmt: str, precision: str) -> str:
    """Compact JSON embedded inside artifacts that have a metadata slot: contract, identity and a zeroed
    integrity seal that ``seal`` fills in once the file is serialized (85 bytes; the config stays in the sidecar)."""
    return json.dumps({"schema": SIDECAR_FORMAT, "model": spec.name, "width": str(spec.width), "loss": spec.loss,
                       "format": fmt, "precision": precision,
                       "contract": spec.contract.to_dict(), integrity.FIELD: integrity.PLACEHOLDER},
                      sort_keys=True, separators=(",", ":"))


def seal(data: bytes) -> bytes:
    """Write the sha256 of the serialized artifact into its embedded seal (``edge_lmk.runtimes.integrity``)."""
    return integrity.seal(data)
