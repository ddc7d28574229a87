from pathlib import Path

import pytest

from edge_lmk.paths import SAMPLE_CALIB, SAMPLE_TEST


@pytest.fixture(scope="session")
def sample_test() -> Path:
    return SAMPLE_TEST


@pytest.fixture(scope="session")
def sample_train() -> Path:
    return SAMPLE_CALIB


@pytest.fixture(scope="session")
def small_export(tmp_path_factory) -> Path:
    """``python -m export.all`` of the smallest model, fp32, every format (~20 s), shared by the artifact tests.
    Tests copy what they damage; this folder stays as exported."""
    from export import all as export_all

    out = tmp_path_factory.mktemp("small_export")
    assert export_all.main(["--models", "laplacekl_w1_16", "--precisions", "fp32", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models run fastest on one thread, and the suite may share the CPU; restored afterwards.
    Modules that want it say ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def check_parity_rows():
    """Asserts export.all manifest rows: every row ok; fp32 rows within 0.01 NME and 0.05 px of PyTorch on the
    bundled real faces, compressed rows within +3% NME."""
    def check(rows: list[dict]) -> None:
        for r in rows:
            assert r["status"] == "ok", r
            if r["precision"] == "fp32":
                assert abs(r["parity"]["delta_nme"]) < 0.01 and r["parity"]["max_px"] < 0.05, r
            else:
                assert r["parity"]["rel_delta_nme"] < 0.03, r
    return check


@pytest.fixture(scope="session")
def seeded_model():
    """name -> the registry model with seeded weights (seed 0) and non-trivial batch-norm statistics, in
    eval mode, so folding and every lowering see what a trained model gives them (untrained families)."""
    import torch

    from edge_lmk.models import REGISTRY

    def build(name: str) -> torch.nn.Module:
        torch.manual_seed(0)
        model = REGISTRY[name].build()
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.2, 0.2)
                    m.running_var.uniform_(0.5, 2.0)
                    m.weight.uniform_(0.5, 1.5)
        return model.eval()
    return build
