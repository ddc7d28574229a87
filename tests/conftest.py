from pathlib import Path

import pytest

from edge_lmk.paths import SAMPLE_CALIB, SAMPLE_TEST


@pytest.fixture(scope="session")
def sample_test() -> Path:
    return SAMPLE_TEST


@pytest.fixture(scope="session")
def sample_train() -> Path:
    return SAMPLE_CALIB
