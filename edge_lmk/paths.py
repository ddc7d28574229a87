"""Default data locations: the shared 300-W copy when present, else the bundled sample."""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
SAMPLE_DIR = PACKAGE_DIR / "sample"
SAMPLE_TEST = SAMPLE_DIR / "test_common"
SAMPLE_CALIB = SAMPLE_DIR / "train"


def shared_data_dir() -> Path | None:
    env = os.environ.get("EDGE_LMK_DATA")
    cand = [Path(env)] if env else []
    cand.append(REPO_DIR.parent / "shared" / "data")
    for c in cand:
        if (c / "300w").is_dir():
            return c
    return None


def default_train_dirs() -> list[Path]:
    d = shared_data_dir()
    if d is None:
        return [SAMPLE_CALIB]
    return [d / "300w" / "train"]


def default_test_dir() -> Path:
    d = shared_data_dir()
    return d / "300w" / "test_common" if d else SAMPLE_TEST
