"""Training under torchrun (edge_lmk/training/distributed.py): N CPU processes (gloo) give one process's result at
the same global batch."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from edge_lmk.training import distributed

ROOT = Path(__file__).resolve().parent.parent


def _torchrun(args: list[str], n: int = 2) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(n),
                           "--standalone", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=240)


def test_two_processes_compute_one_process_gradients(tmp_path):
    """One step on a fixed batch of 8 (weights 1 and 0.5): the gradients of 2 processes x 4 faces with global
    batch norm equal 1 process x 8 faces to float32 rounding of differently ordered sums (1e-4 relative,
    1e-6 absolute for the near-zero ones)."""
    sys.path.insert(0, str(Path(__file__).parent))
    import ddp_worker

    one = ddp_worker.gradients(distributed.Context())
    r = _torchrun([str(Path(__file__).parent / "ddp_worker.py"), str(tmp_path / "g.pt")])
    assert r.returncode == 0, r.stderr[-3000:]
    two = torch.load(tmp_path / "g.pt")
    assert one.keys() == two.keys()
    for k in one:
        torch.testing.assert_close(two[k], one[k], rtol=1e-4, atol=1e-6, msg=k)


def test_torchrun_training_matches_one_process(tmp_path, sample_test):
    """``torchrun --nproc_per_node 2 -m edge_lmk.train`` vs ``python -m edge_lmk.train``, 4 steps of global batch
    8 with augmentation, no dropout (each process draws its own masks): the same validation NME to 0.01 and
    every weight within 2 x the summed learning rates (an Adam step moves a weight by at most about lr, so
    rounding can at worst send one run a step the other way where a gradient is ~0)."""
    common = ["--family", "fast", "--width", "1/16", "--data", str(sample_test), "--limit-train", "16", "--batch-size",
              "8", "--steps", "4", "--threads", "1", "--no-cache", "--dropout", "0", "--seed", "3", "--lr", "1e-3",
              "--warmup-epochs", "0"]
    one = subprocess.run([sys.executable, "-m", "edge_lmk.train", *common, "--out", str(tmp_path / "one")], cwd=ROOT,
                         env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=240)
    assert one.returncode == 0, one.stderr[-3000:]
    two = _torchrun(["-m", "edge_lmk.train", *common, "--out", str(tmp_path / "two")])
    assert two.returncode == 0, two.stderr[-3000:]
    h1 = json.loads((tmp_path / "one" / "log.json").read_text())
    h2 = json.loads((tmp_path / "two" / "log.json").read_text())
    assert len(h1) == len(h2) == 2
    for a, b in zip(h1, h2):
        assert abs(a["val_nme"] - b["val_nme"]) < 0.01 and abs(a["loss"] - b["loss"]) < 1e-3 * abs(a["loss"])
    s1 = torch.load(tmp_path / "one" / "last.pt", weights_only=False)["state_dict"]
    s2 = torch.load(tmp_path / "two" / "last.pt", weights_only=False)["state_dict"]
    bound = 2 * 4 * 1e-3
    for k in s1:
        if s1[k].is_floating_point():
            assert (s1[k] - s2[k]).abs().max() <= bound, k
    assert "2 processes" in two.stdout
