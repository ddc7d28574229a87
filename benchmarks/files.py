"""Atomic JSON/text writes and JSON reads shared by the CLIs (readers never see half a file)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from edge_lmk.files import atomic_write_bytes


def write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2) + "\n").encode())


def write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text())


