import numpy as np

from edge_lmk.metrics import auc, failure_rate, nme_per_face, summarize


def test_nme_inter_ocular():
    gt = np.zeros((1, 68, 2))
    gt[0, 36] = [0, 0]
    gt[0, 45] = [50, 0]
    pred = gt + [3.0, 4.0]  # every point 5 px off, IOD 50 -> 10 %
    assert np.allclose(nme_per_face(pred, gt), [10.0])


def test_auc_and_failure_rate():
    nmes = np.array([0.0, 4.0, 8.0, 12.0])
    assert failure_rate(nmes) == 0.25
    # CED: 1/4 at 0, 2/4 from 4, 3/4 at 8 -> area = (0.25*4 + 0.5*4) / 8 (+ step at the end)
    assert abs(auc(nmes) - 0.375) < 1e-2
    s = summarize(nmes)
    assert s["n"] == 4 and s["nme"] == 6.0
