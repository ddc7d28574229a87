import numpy as np
import torch
import torch.nn.functional as F

from edge_lmk.data import load_face, scan_folder
from edge_lmk.data.augment import NO_AUGMENT, AugmentConfig, crop_batch
from edge_lmk.data.canvas import make_canvas
from edge_lmk.metrics import nme_per_face
from edge_lmk.preprocess import (FLIP_PERMUTATION, FaceSquare, apply_affine, crop_face, crop_matrix, face_square,
                                 invert_affine, sample_bilinear)


def test_flip_permutation_is_an_involution_that_swaps_eye_corners():
    assert sorted(FLIP_PERMUTATION.tolist()) == list(range(68))
    assert (FLIP_PERMUTATION[FLIP_PERMUTATION] == np.arange(68)).all()
    assert FLIP_PERMUTATION[36] == 45 and FLIP_PERMUTATION[48] == 54 and FLIP_PERMUTATION[30] == 30


def test_sample_bilinear_matches_grid_sample():
    rng = np.random.default_rng(0)
    img = rng.uniform(0, 255, (50, 60, 3)).astype(np.float32)
    A = crop_matrix(FaceSquare(31.3, 22.7, 47.0), 20, angle_deg=17.0, flip=True)
    ours = sample_bilinear(img, A, 20)
    H, W = img.shape[:2]
    M, t = A[:, :2], A[:, 2]
    theta = np.concatenate([M * np.array([[20 / W], [20 / H]]),
                            ((2 * (M @ [10.0, 10.0] + t)) / [W, H] - 1)[:, None]], 1)
    grid = F.affine_grid(torch.tensor(theta[None], dtype=torch.float32), (1, 3, 20, 20), align_corners=False)
    ref = F.grid_sample(torch.from_numpy(img).permute(2, 0, 1)[None], grid, align_corners=False)[0].permute(1, 2, 0)
    np.testing.assert_allclose(ours, ref.numpy(), atol=2e-3)


def test_identity_crop_reproduces_pixels():
    img = np.arange(8 * 8 * 3, dtype=np.float32).reshape(8, 8, 3)
    crop, A = crop_face(img, FaceSquare(4.0, 4.0, 8.0), 8)
    np.testing.assert_allclose(crop, img, atol=1e-4)
    np.testing.assert_allclose(apply_affine(invert_affine(A), np.array([[0.5, 0.5]])), [[0.5, 0.5]])


def test_large_photo_is_box_shrunk_before_bilinear():
    # A 1-pixel checkerboard averages to 127.5 only if every pixel is used.
    img = ((np.indices((800, 800)).sum(0) % 2) * 255).astype(np.uint8)[..., None].repeat(3, 2)
    crop, _ = crop_face(img, FaceSquare(400, 400, 640), 80)
    assert abs(crop.mean() - 127.5) < 1.0 and crop.std() < 5.0


def test_training_crop_equals_inference_crop_on_real_faces(sample_test):
    """The batched augmentation path with augmentation off gives the same pixels and targets."""
    recs = scan_folder(sample_test)[:8]
    canv, pts_c, xs, tg = [], [], [], []
    for r in recs:
        img, pts = load_face(r)
        c, p = make_canvas(img, pts)
        canv.append(c)
        pts_c.append(p)
        crop, A = crop_face(img, face_square(pts, 1.3), 80)
        xs.append(crop / 255.0)
        tg.append(apply_affine(invert_affine(A), pts))
    x, t = crop_batch(torch.from_numpy(np.stack(canv)), torch.from_numpy(np.stack(pts_c)), 80, 1.3, NO_AUGMENT)
    assert x.shape == (8, 3, 80, 80)
    np.testing.assert_allclose(t.numpy(), np.stack(tg), atol=0.02)
    diff = np.abs(x.permute(0, 2, 3, 1).numpy() - np.stack(xs))
    assert diff.mean() < 2.0 / 255 and np.percentile(diff, 99) < 12.0 / 255


def test_augmentation_keeps_landmarks_on_the_face(sample_test):
    """Flipped/rotated crops: the augmented target equals the landmarks mapped by the same transform."""
    recs = scan_folder(sample_test)[:16]
    canv, pts_c = zip(*(make_canvas(*load_face(r)) for r in recs))
    canv, pts_c = torch.from_numpy(np.stack(canv)), torch.from_numpy(np.stack(pts_c))
    g = torch.Generator().manual_seed(0)
    x, t = crop_batch(canv, pts_c, 80, 1.3, AugmentConfig(flip=1.0), g)
    assert torch.isfinite(x).all() and x.min() >= 0 and x.max() <= 1
    # flipped: the subject's right eye corner (36) must now be on the image left of 45
    assert (t[:, 36, 0] < t[:, 45, 0]).all()
    # inter-ocular distance stays a plausible fraction of the crop
    iod = (t[:, 36] - t[:, 45]).norm(dim=-1)
    assert ((iod > 20) & (iod < 60)).all()
    assert nme_per_face(t.numpy(), t.numpy()).max() == 0
