"""Latency results from other devices (``edge-lmk-device-bench/1``), merged by device name.

Files come from ``benchmarks/devices/*.json`` (the folder the report reads by default) and
from ``--device-results FILE...``. Each file is validated against
``schema/device-bench.schema.json``; a file that does not validate is an error naming it.
Within one device, a later file's row replaces an earlier row with the same (model,
format, precision, backend, threads), so re-running a device's benchmark updates it.
Folder files are read in name order, then the command-line files in the order given.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .files import read_json
from .validate import validate

DEVICE_SCHEMA = "edge-lmk-device-bench/1"
DEVICES_DIR = Path(__file__).resolve().parent / "devices"
ROW_KEY = ("model", "format", "precision", "backend", "threads")


@dataclass
class Device:
    name: str
    info: dict = field(default_factory=dict)
    rows: dict[tuple, dict] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)

    @property
    def results(self) -> list[dict]:
        return sorted(self.rows.values(), key=lambda r: (r["model"], r["format"], r["precision"], r["backend"],
                                                         r["threads"] or 0))


def device_files(folder: Path | None = DEVICES_DIR, extra: list[str | Path] | None = None) -> list[Path]:
    files = sorted(folder.glob("*.json")) if folder is not None and folder.is_dir() else []
    return files + [Path(p) for p in extra or []]


def load_device_file(path: str | Path) -> dict:
    path = Path(path)
    try:
        doc = read_json(path)
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: cannot read device results ({e})") from None
    validate(doc, "device", str(path))
    return doc


def merge(paths: list[Path]) -> list[Device]:
    """Devices in first-seen order, each with its rows deduplicated by ROW_KEY (last file wins)."""
    devices: dict[str, Device] = {}
    for path in paths:
        doc = load_device_file(path)
        info = doc["device"]
        dev = devices.setdefault(info["name"], Device(info["name"]))
        dev.info.update({k: v for k, v in info.items() if v is not None})
        dev.sources.append(str(path))
        for row in doc["results"]:
            dev.rows[tuple(row.get(k) for k in ROW_KEY)] = row
    return list(devices.values())
