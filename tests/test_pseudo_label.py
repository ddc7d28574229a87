"""Teacher pseudo-labels: real faces, real teacher; labels land near the ground truth and read back as data."""
import json
import shutil

import numpy as np

from edge_lmk.data import scan_folder
from edge_lmk.metrics import nme_per_face
from edge_lmk.pseudo_label import PseudoLabelConfig, pseudo_label


def test_pseudo_labels_are_close_to_ground_truth_and_resume(tmp_path, sample_test):
    faces = scan_folder(sample_test)[:6]
    unlabeled = tmp_path / "unlabeled"
    unlabeled.mkdir()
    for r in faces:  # images only: the teacher must find the face itself
        shutil.copy(r.image, unlabeled / r.image.name)
    out = tmp_path / "pl"
    # the bundled crops hold the face's landmark extent in the central half: extent 0.5
    cfg = PseudoLabelConfig("laplacekl_w1_8", extent=0.5, max_disagreement=1.0)
    res = pseudo_label(cfg, unlabeled, out)
    assert res == {"faces": 6, "kept": 6, "out": str(out)}
    labelled = scan_folder(out)
    gt = {r.image.name: r.landmarks() for r in faces}
    nme = nme_per_face(np.stack([r.landmarks() for r in labelled]), np.stack([gt[r.image.name] for r in labelled]))
    assert nme.mean() < 10.0  # the 1/8 teacher's common-set NME is 5.6 (5.3 with flip)
    # resuming labels nothing twice; other settings into the same folder are refused
    assert pseudo_label(cfg, unlabeled, out)["faces"] == 6
    index = json.loads((out / "pseudo_labels.json").read_text())
    assert all(0 <= f["disagreement"] < 1 for f in index["faces"].values())
    try:
        pseudo_label(PseudoLabelConfig("laplacekl_w1_8", extent=0.6), unlabeled, out)
    except SystemExit as e:
        assert "other settings" in str(e)
    else:
        raise AssertionError("settings change not refused")
