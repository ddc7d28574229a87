"""The one implementation each of what every writer and verifier needs: atomic writes (bytes, JSON,
figures), SHA-256 of a file or a directory artifact, size on disk, and installed tool versions."""
from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write to a temporary file beside ``path`` then rename, so readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; artifacts are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: str | os.PathLike, obj, **dumps_kw) -> None:
    """``json.dumps(obj, **dumps_kw)`` plus a final newline, written atomically."""
    atomic_write_bytes(path, (json.dumps(obj, **dumps_kw) + "\n").encode())


def save_figure(fig, path: str | os.PathLike) -> Path:
    """Save a matplotlib figure as PNG through a temporary file and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    try:
        fig.savefig(tmp)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if tmp.exists():
            tmp.unlink()
    return path


def sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, or of a directory artifact (``.mlpackage``: relative paths and contents, sorted)."""
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


def size_on_disk(path: str | os.PathLike) -> int:
    """Bytes of a file, or of every file under a directory (``.mlpackage`` bundles are folders)."""
    p = Path(path)
    if p.is_dir():
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    return p.stat().st_size


def tool_versions(packages: Iterable[str]) -> dict[str, str | None]:
    """``{"python": ..., package: installed version or None}`` for the given distribution names."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out
