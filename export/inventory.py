"""What an output folder really holds: the manifest is rebuilt from the artifacts on disk.

A run killed with SIGKILL cannot finish its manifest, and a rerun used to start from an empty
one, so valid artifacts of earlier runs went unlisted. ``export.all`` now starts from
``on_disk_entries`` (every artifact whose sidecar validates and whose sha256 matches it) and
merges each finished row into that list (``merge``) before rewriting the manifest atomically.
An entry of the previous manifest is reused when its sha256 still matches the file (its parity
result stays valid); otherwise the row is rebuilt from the sidecar with status ``unchecked``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from edge_lmk.runtimes import ArtifactError
from edge_lmk.files import sha256
from edge_lmk.runtimes.artifact_meta import parse_sidecar
from edge_lmk.runtimes.table import ARTIFACT_SUFFIXES, RUNTIMES

# artifact suffix -> manifest format, from the one runtime table
FORMAT_OF = {r.suffix: r.format for r in RUNTIMES if r.suffix in ARTIFACT_SUFFIXES}
MANIFEST = "manifest.json"


class ManifestError(ValueError):
    """A manifest that cannot be read; the message names the file."""


class _Manifest(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    artifacts: list[dict]


def read_manifest(path: Path) -> dict:
    """A manifest written by ``export.all`` -> dict with an ``artifacts`` list of entries."""
    path = Path(path)
    try:
        data = json.loads(path.read_bytes())
    except OSError as e:
        raise ManifestError(f"{path}: unreadable manifest ({e})") from None
    except (ValueError, RecursionError) as e:
        raise ManifestError(f"{path}: manifest is not JSON ({type(e).__name__}: {e})") from None
    try:
        _Manifest.model_validate(data)
    except ValidationError as e:
        raise ManifestError(f"{path}: not an export manifest ({e.errors()[0]['loc']}: {e.errors()[0]['msg']})") \
            from None
    return data


def entry_key(entry: dict) -> str | tuple:
    """One row per artifact: its path, or (model, format, precision, variant) for a row without a file."""
    return entry.get("path") or (entry.get("model"), entry.get("format"), entry.get("precision"),
                                 entry.get("variant") or None)


def _row_from_sidecar(out: Path, artifact: Path, side: dict, sha: str, size: int) -> dict:
    parent = (side.get("config") or {}).get("parent")
    precision = side.get("precision")
    return {"model": side.get("model"), "width": side.get("width"), "loss": side.get("loss"),
            "format": FORMAT_OF[artifact.suffix],
            "precision": f"pruned-{precision}" if parent and precision else precision,  # as export.all labels it
            "parent": parent, "variant": side.get("variant"),
            "path": os.path.relpath(artifact, out), "bytes": size, "sha256": sha,
            "sidecar": os.path.relpath(f"{artifact}.json", out), "parity": None, "tolerance": None,
            "status": "unchecked", "error": None, "export_s": None, "parity_s": None}


def on_disk_entries(out: Path, previous: list[dict] | None = None) -> tuple[list[dict], list[str]]:
    """-> (rows for the valid artifacts in ``out``, sorted by path; one line per artifact left out and why)."""
    out = Path(out)
    by_path = {e.get("path"): e for e in previous or [] if isinstance(e, dict) and e.get("path")}
    rows, skipped = [], []
    for artifact in sorted(p for p in out.iterdir() if p.suffix in FORMAT_OF and not p.name.startswith(".")):
        side_path = Path(f"{artifact}.json")
        if not side_path.is_file():
            skipped.append(f"{artifact.name}: no sidecar")
            continue
        try:
            side = parse_sidecar(side_path, side_path.read_bytes())
            sha = sha256(artifact)
        except (ArtifactError, OSError) as e:
            skipped.append(f"{artifact.name}: {e}")
            continue
        if sha != side["sha256"]:
            skipped.append(f"{artifact.name}: sha256 does not match its sidecar")
            continue
        size = sum(f.stat().st_size for f in artifact.rglob("*") if f.is_file()) if artifact.is_dir() \
            else artifact.stat().st_size
        old = by_path.get(os.path.relpath(artifact, out))
        rows.append(old if old is not None and old.get("sha256") == sha
                    else _row_from_sidecar(out, artifact, side, sha, size))
    return rows, skipped


def merge(kept: list[dict], new: list[dict]) -> list[dict]:
    """``kept`` with each row of ``new`` replacing the row for the same artifact (or appended)."""
    rows = {entry_key(e): e for e in kept}
    for e in new:
        rows[entry_key(e)] = e
    return list(rows.values())


def previous_entries(out: Path) -> tuple[list[dict], str | None]:
    """Rows of the manifest already in ``out`` (empty when there is none or it is unreadable, with why)."""
    path = Path(out) / MANIFEST
    if not path.is_file():
        return [], None
    try:
        return read_manifest(path)["artifacts"], None
    except ManifestError as e:
        return [], str(e)
