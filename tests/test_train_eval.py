import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from edge_lmk.evaluation import evaluate, prepare_crops, predict_photo
from edge_lmk.data import scan_folder
from edge_lmk.models import REGISTRY
from edge_lmk.runtimes import load_predictor
from edge_lmk.paths import REPO_DIR
from edge_lmk.runtimes.base import ArtifactError

ENV = {**os.environ, "PYTHONPATH": str(REPO_DIR)}


def _train(tmp_path, sample_train, epochs, run="run"):
    cmd = [sys.executable, "-m", "edge_lmk.train", "--width", "1/16", "--data", str(sample_train),
           "--val-fraction", "0.2", "--epochs", str(epochs), "--batch-size", "8", "--out", str(tmp_path / run),
           "--threads", "1"]
    return subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=tmp_path, env=ENV)


def test_train_resumes_and_logs(tmp_path, sample_train):
    """Resume, logs, no temp files; and seeded: --seed covers the initial weights, so 1 epoch + resume equals
    2 straight epochs bit for bit."""
    _train(tmp_path, sample_train, 1)
    run = tmp_path / "run"
    assert (run / "last.pt").exists() and (run / "best.pt").exists()
    out = _train(tmp_path, sample_train, 2)
    assert "resumed from" in out.stdout and "at epoch 1" in out.stdout
    log = json.loads((run / "log.json").read_text())
    assert [r["epoch"] for r in log] == [1, 2]
    assert all(np.isfinite(r["loss"]) and r["val_nme"] > 0 for r in log)
    assert (run / "log.csv").read_text().splitlines()[0].startswith("epoch,loss,val_nme")
    assert not list(run.glob("*.tmp")) and not list(run.glob(".*tmp"))
    _train(tmp_path, sample_train, 2, run="straight")
    resumed = torch.load(run / "last.pt", weights_only=False)
    straight = torch.load(tmp_path / "straight" / "last.pt", weights_only=False)
    for k, v in straight["state_dict"].items():
        assert torch.equal(v, resumed["state_dict"][k]), k
    assert [e["loss"] for e in log] == [e["loss"] for e in json.loads((tmp_path / "straight" / "log.json").read_text())]


@pytest.mark.parametrize("name,max_nme", [("laplacekl_w1_8", 60.0)])
def test_shipped_model_nme_on_sample(sample_test, name, max_nme):
    res = evaluate(name, sample_test)
    assert res["n"] == 64 and set(res["subsets"]) == {"helen_testset", "lfpw_testset"}
    assert res["nme"] < max_nme
    assert 0 <= res["auc8"] <= 1 and 0 <= res["fr8"] <= 1


def test_photo_coordinates_roundtrip(sample_test):
    """Predictions mapped back to photo pixels: a perfect predictor in crop space scores NME 0."""
    recs = scan_folder(sample_test)[:5]
    spec = REGISTRY["laplacekl_w1_16"]
    crops = prepare_crops(recs, spec.contract)

    class Oracle:
        def predict(self, x):
            inv = [np.linalg.inv(np.vstack([A, [0, 0, 1]]))[:2] for A in crops.transforms]
            lm = np.stack([g @ i[:, :2].T + i[:, 2] for g, i in zip(crops.landmarks, inv)])
            return lm, np.ones(lm.shape[:2])

    photo, _ = predict_photo(Oracle(), crops)
    np.testing.assert_allclose(photo, crops.landmarks, atol=1e-6)


def test_evaluate_cli_json_and_ced(tmp_path, sample_test):
    out = tmp_path / "r.json"
    ced = tmp_path / "ced.png"
    subprocess.run([sys.executable, "-m", "edge_lmk.evaluate", "--model", "laplacekl_w1_16", "--data",
                    str(sample_test), "--json", str(out), "--ced", str(ced)], check=True, capture_output=True)
    res = json.loads(out.read_text())
    assert {"nme", "auc8", "fr8", "n"} <= set(res) and res["n"] == 64
    assert len(res["per_face_nme"]) == 64
    assert ced.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unknown_model_and_missing_artifact(tmp_path):
    with pytest.raises(ValueError, match="not a registry name or checkpoint file"):
        load_predictor("no_such_model")
    with pytest.raises(ArtifactError, match=r"x\.pte: artifact not found"):
        load_predictor(str(tmp_path / "x.pte"))


def test_ema_is_averaged_model_with_warm_up():
    """The EMA is torch's AveragedModel: the first update copies the model, the k-th averages with
    decay min(decay, (1 + k) / (10 + k)), buffers (BN statistics) included, integer buffers copied."""
    import torch

    from edge_lmk.training.loop import make_ema

    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 1), torch.nn.BatchNorm2d(2))
    ema = make_ema(net, 0.998)
    values = [1.0, 3.0, 7.0]
    expect = None
    for k, v in enumerate(values, start=1):
        with torch.no_grad():
            net[0].weight.fill_(v)
            net[1].running_mean.fill_(2 * v)
            net[1].num_batches_tracked.fill_(k)
        ema.update_parameters(net)
        d = min(0.998, (1 + k) / (10 + k))
        expect = v if k == 1 else d * expect + (1 - d) * v
    sd = ema.module.state_dict()
    torch.testing.assert_close(sd["0.weight"], torch.full_like(sd["0.weight"], expect))
    torch.testing.assert_close(sd["1.running_mean"], torch.full_like(sd["1.running_mean"], 2 * expect))
    assert int(sd["1.num_batches_tracked"]) == 3 and int(ema.n_averaged) == 3
    assert not any(p.requires_grad for p in ema.parameters())
