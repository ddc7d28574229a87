from .scoring import CropSet, evaluate, json_safe, plot_ced, predict_photo, prepare_crops, score

__all__ = ["CropSet", "evaluate", "json_safe", "plot_ced", "predict_photo", "prepare_crops", "score"]
