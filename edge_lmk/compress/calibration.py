"""Calibration crops: real TRAINING faces cut by the model's contract, never test faces."""
from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

from ..contract import PreprocessContract
from ..data import scan_folders
from ..paths import default_train_dirs
from .config import Calibration

# Folder names that hold benchmark faces; calibrating on them would leak the test set.
TEST_FOLDER_NAMES = ("test_common", "test", "testset", "val")


class CalibrationError(ValueError):
    """Calibration data that is missing or is test data."""


def calibration_dirs(cal: Calibration) -> list[Path]:
    dirs = [Path(d) for d in cal.data] if cal.data else default_train_dirs()
    for d in dirs:
        parts = {p.lower() for p in Path(d).resolve().parts}
        bad = parts.intersection(TEST_FOLDER_NAMES)
        if bad:
            raise CalibrationError(f"{d}: calibration must use training faces, not a test folder ({sorted(bad)[0]})")
    return dirs


def calibration_inputs(cal: Calibration, contract: PreprocessContract) -> np.ndarray:
    """(N,3,S,S) float32 crops of ``cal.n_faces`` training faces, evenly spaced over the sorted list."""
    return _cached(cal, contract.to_json()).copy()


@functools.lru_cache(maxsize=4)  # export.all quantizes several formats of models sharing one contract
def _cached(cal: Calibration, contract_json: str) -> np.ndarray:
    from ..evaluation import prepare_crops

    contract = PreprocessContract.from_dict(json.loads(contract_json))

    records = scan_folders(calibration_dirs(cal))
    n = min(cal.n_faces, len(records))
    pick = np.linspace(0, len(records) - 1, n).round().astype(int)
    return prepare_crops([records[i] for i in pick], contract, desc="calibration crops").inputs
