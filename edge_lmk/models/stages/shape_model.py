"""The PCA 2-D shape model of Merget et al. (CVPR 2018) as a layer: outlier landmarks are replaced by
their reconstruction from a statistical shape model fitted on the training shapes.

Merget et al. fit a PCA shape model (12 eigenvectors in their code) to the network's landmarks after
a Kabsch alignment and constrain the fit to plausible shapes. Here the same idea is written with
ops every runtime has, so it lives inside the exported graph:

1. normalise the predicted shape for translation and scale (centroid, RMS radius); in-plane
   rotation is left to the leading PCA modes, which is what they learn from rotated training faces;
2. project onto the ``m`` principal modes and clamp every coefficient to +-3 standard deviations of
   the training shapes (the "plausible shape" constraint);
3. reconstruct; a landmark farther than ``threshold`` (in normalised units) from its reconstruction
   is moved onto it, with a linear ramp up to twice the threshold so the layer stays continuous;
4. repeat once with the outliers replaced, so one gross outlier does not drag the fit.

Projection and reconstruction are two matrix products; the rest is elementwise. The buffers are
fitted by ``fit`` (``python -m edge_lmk.shape_model``); the threshold is chosen on validation faces.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from .registry import register_stage

NUM_COMPONENTS = 12  # Merget et al.'s nEVs
CLAMP_SD = 3.0
ITERATIONS = 2


class ShapeModel(nn.Module):
    """(image, landmarks (B,K,2), scale (B,K)) -> (filtered landmarks (B,K,2), scale). Image unused."""

    trainable = False

    def __init__(self, num_landmarks: int = 68, num_components: int = NUM_COMPONENTS):
        super().__init__()
        d = 2 * num_landmarks
        self.register_buffer("mean_shape", torch.zeros(d))
        self.register_buffer("basis", torch.zeros(d, num_components))  # orthonormal columns
        self.register_buffer("bound", torch.zeros(num_components))      # CLAMP_SD * sqrt(eigenvalue)
        # an unfitted model (threshold inf) passes landmarks through unchanged
        self.register_buffer("threshold", torch.tensor(float("inf")))

    def forward(self, image: torch.Tensor, landmarks: torch.Tensor, scale: torch.Tensor):
        b, k, _ = landmarks.shape
        centre = landmarks.mean(1, keepdim=True)
        centred = landmarks - centre
        radius = (centred * centred).sum(-1).mean(1, keepdim=True).unsqueeze(-1).clamp_min(1e-6).sqrt()  # (B,1,1)
        shape = centred / radius
        kept = shape
        for _ in range(ITERATIONS):
            coeff = (kept.reshape(b, 2 * k) - self.mean_shape) @ self.basis
            coeff = torch.maximum(torch.minimum(coeff, self.bound), -self.bound)
            recon = (self.mean_shape + coeff @ self.basis.T).reshape(b, k, 2)
            dist = ((shape - recon) ** 2).sum(-1).clamp_min(1e-12).sqrt()  # (B,K)
            # dist / thr - 1 (not (dist - thr) / thr): an unfitted, infinite threshold gives 0, not nan
            gate = (dist / self.threshold - 1.0).clamp(0.0, 1.0).unsqueeze(-1)
            kept = shape + gate * (recon - shape)
        return kept * radius + centre, scale


def normalise_shapes(shapes: np.ndarray) -> np.ndarray:
    """(N,K,2) -> (N,2K) shapes with the centroid removed and unit RMS radius (the layer's normalisation)."""
    c = shapes - shapes.mean(1, keepdims=True)
    r = np.sqrt((c ** 2).sum(-1).mean(1))[:, None, None]
    return (c / r).reshape(len(shapes), -1)


def fit(layer: ShapeModel, shapes: np.ndarray) -> dict:
    """PCA of the normalised training shapes (N,K,2) into ``layer``'s buffers; -> explained variance."""
    x = normalise_shapes(np.asarray(shapes, np.float64))
    mean = x.mean(0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    m = layer.basis.shape[1]
    var = s ** 2 / (len(x) - 1)
    with torch.no_grad():
        layer.mean_shape.copy_(torch.from_numpy(mean).float())
        layer.basis.copy_(torch.from_numpy(vt[:m].T).float())
        layer.bound.copy_(torch.from_numpy(CLAMP_SD * np.sqrt(var[:m])).float())
    return {"shapes": len(x), "components": m, "explained_variance": float(var[:m].sum() / var.sum())}


@register_stage("shape", suffix="_pca")
def build(num_landmarks: int) -> ShapeModel:
    return ShapeModel(num_landmarks)
