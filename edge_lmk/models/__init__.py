from .family import FAMILIES, ExportHints, export_hints, register_family
from .net import LandmarkNet, count_params, fold_batchnorm
from .recombinator.generator import RecombinatorGenerator, branch_channels
from .registry import (REGISTRY, WIDTHS, ModelLoadError, ModelSpec, default_model, list_models, load_checkpoint,
                       model_name, register_model, register_staged, resolve, save_checkpoint)

# Generator families: one line each (their folder registers the builder and the model names).
from .recombinator import family as _recombinator  # noqa: E402,F401  (first: the default family)
from .table1 import family as _table1  # noqa: E402,F401
from .fast import family as _fast  # noqa: E402,F401
from .localglobal import family as _localglobal  # noqa: E402,F401
from .evae import family as _evae  # noqa: E402,F401
from .fast_dw import family as _fast_dw  # noqa: E402,F401
from .fast_mix import family as _fast_mix  # noqa: E402,F401
from .fast20 import family as _fast20  # noqa: E402,F401

# Post-head stages can follow any family's model: NAME_pca (PCA shape model), NAME_casc (cascade refinement)
for _spec in [s for s in REGISTRY.values() if not s.stages and s.parent is None and not s.arch]:
    for _stages in (("shape",), ("cascade",)):
        register_staged(_spec.name, _stages)

__all__ = ["FAMILIES", "ExportHints", "export_hints", "register_family", "LandmarkNet", "RecombinatorGenerator",
           "branch_channels", "count_params", "fold_batchnorm", "REGISTRY", "WIDTHS", "ModelLoadError", "ModelSpec",
           "default_model", "list_models", "load_checkpoint", "model_name", "register_model", "resolve",
           "save_checkpoint"]
