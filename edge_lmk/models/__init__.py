from .generator import LandmarkNet, RecombinatorGenerator, branch_channels, count_params, fold_batchnorm
from .registry import (REGISTRY, WIDTHS, ModelLoadError, ModelSpec, default_model, list_models, load_checkpoint,
                       model_name, resolve, save_checkpoint)

__all__ = ["LandmarkNet", "RecombinatorGenerator", "branch_channels", "count_params", "fold_batchnorm", "REGISTRY",
           "WIDTHS", "ModelLoadError", "ModelSpec", "default_model", "list_models", "load_checkpoint", "model_name",
           "resolve", "save_checkpoint"]
