"""``python -m edge_lmk.campaign``: teacher -> pseudo-labels -> distilled students, resumable, configured by
dataclasses (no argv rebuilt), on a tiny plan over the bundled sample."""
from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch

from edge_lmk.data import scan_folders
from edge_lmk.data.dataset import load_face
from edge_lmk.preprocess import crop_face, face_square
from edge_lmk.campaign import CampaignConfig, plan, run
from edge_lmk.models.registry import load_checkpoint


def _tiny(tmp_path: Path, sample_test: Path) -> CampaignConfig:
    # a data root in the shared layout made of the bundled sample; unlabelled faces: the sample's images
    root = tmp_path / "data"
    for sub in ("300w/train", "extra_udacity/val", "extra_udacity/train"):
        shutil.copytree(sample_test, root / sub)
    # unlabelled faces cut like UTKFace's aligned chips: the landmarks span 0.58 of the image side
    un = root / "unlabeled" / "utkface"
    un.mkdir(parents=True)
    for i, rec in enumerate(scan_folders([sample_test])[:12]):
        img, pts = load_face(rec)
        crop, _ = crop_face(img, face_square(pts, 1 / 0.58), 200)
        cv2.imwrite(str(un / f"face{i}.png"), cv2.cvtColor(crop.astype(np.uint8), cv2.COLOR_RGB2BGR))
    # the teacher: a shipped model (an untrained one would keep no pseudo-label)
    return CampaignConfig(family="fast", widths=("1/16",), teacher="laplacekl_w1_4_fast", pseudo=True, distill=0.5,
                          steps=2,
                          out=str(tmp_path / "camp"), data_root=str(root), threads=1,
                          overrides={"batch_size": 8, "limit_train": 8, "no_cache": True})


def test_plan_is_teacher_pseudo_students(tmp_path, sample_test):
    cfg = _tiny(tmp_path, sample_test)
    stages = plan(cfg)
    assert [s.kind for s in stages] == ["pseudo", "train"]  # a given teacher is not trained again
    student = stages[-1].train
    assert student.teacher.endswith("laplacekl_w1_4_fast.pt") and student.distill_weight == 0.5
    assert student.extra_data[-1].endswith("pseudo") and student.extra_weight == 0.5
    assert student.width == "1/16" and student.family == "fast" and student.beta == 10.0
    trained = plan(replace(cfg, teacher=None, teacher_width="1/8"))
    assert [s.kind for s in trained] == ["train", "pseudo", "train"] and trained[0].train.width == "1/8"
    assert trained[-1].train.teacher.endswith("teacher/best.pt")


def test_campaign_runs_and_resumes(tmp_path, sample_test):
    cfg = _tiny(tmp_path, sample_test)
    run(cfg)
    out = Path(cfg.out)
    student_ckpt = out / "w1_16" / "best.pt"
    assert student_ckpt.is_file()
    report = json.loads((out / "pseudo" / "pseudo_labels.json").read_text())
    assert report["config"]["teacher"].endswith("laplacekl_w1_4_fast.pt") and len(list((out / "pseudo").glob("*.pts"))) > 0
    args = json.loads((out / "w1_16" / "args.json").read_text())
    assert args["teacher"].endswith("laplacekl_w1_4_fast.pt") and args["extra_data"][-1].endswith("pseudo")
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.pt")}
    run(cfg)  # everything is finished: nothing trains again, no checkpoint is rewritten
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.pt")} == before
    student, spec, _ = load_checkpoint(student_ckpt)
    assert spec.name == "laplacekl_w1_16_fast" and all(torch.isfinite(p).all() for p in student.parameters())


def test_distillation_term_is_zero_for_the_teacher_itself_and_positive_otherwise(sample_test):
    """KL(Laplace(m, s) || Laplace(m, s)) = 0: a student equal to its teacher has no distillation loss
    (float32: 1e-4); another model has a positive one."""
    from edge_lmk.evaluation import prepare_crops
    from edge_lmk.models import REGISTRY
    from edge_lmk.training.loop import distill_loss

    teacher = REGISTRY["laplacekl_w1_8_fast"].load()
    x = torch.from_numpy(prepare_crops(scan_folders([sample_test])[:8], REGISTRY["laplacekl_w1_8_fast"].contract).inputs)
    with torch.no_grad():
        mean, spread, _ = teacher.forward_train(x)
        same = distill_loss(teacher, x, mean, spread.clamp_min(0.25))
        other = REGISTRY["laplacekl_w1_16_fast"].load()
        m2, s2, _ = other.forward_train(x)
        diff = distill_loss(teacher, x, m2, s2)
    assert same.shape == (8,) and same.abs().max() < 1e-4
    assert (diff > 0.01).all()
