"""Output representations (mmpose-style codecs): one object per representation that decodes the
network's output into landmarks and encodes landmarks into that representation, shared by the
training loss, the deployed head, the exporters' delegable head, the head-only benchmark floor and
the adversarial branch."""
from .soft_argmax import (SCALE_KINDS, DelegableSoftArgmax, DeployedHead, SoftArgmaxCodec, pixel_centres,
                          soft_argmax, spatial_softmax)

__all__ = ["SCALE_KINDS", "DelegableSoftArgmax", "DeployedHead", "SoftArgmaxCodec", "pixel_centres", "soft_argmax",
           "spatial_softmax"]
