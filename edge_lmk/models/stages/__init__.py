"""Post-head stages: modules that follow a family's soft-argmax head inside the deployed graph.

A stage maps (image (B,3,S,S), landmarks (B,K,2), scale (B,K)) -> (landmarks, scale), so it can follow
any family's first stage. Two exist: the PCA shape model of the local-global FCN (``shape``) and the
coarse-to-fine refinement stage (``cascade``). A model's stages are part of its configuration
(``ModelSpec.stages``, stored in the checkpoint) and of every export, since they are ordinary layers.
"""
from .registry import STAGES, build_stages, register_stage, stage_suffix
from . import shape_model as _shape_model  # noqa: F401  (registers "shape")
from . import cascade as _cascade  # noqa: F401  (registers "cascade")

__all__ = ["STAGES", "build_stages", "register_stage", "stage_suffix"]
