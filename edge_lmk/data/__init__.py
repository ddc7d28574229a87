from .dataset import DatasetError, FaceRecord, load_face, scan_folder, scan_folders, scan_unlabeled, split_train_val
from .images import ImageFileError, read_image, to_rgb_uint8
from .pts import LandmarkFileError, read_pts, write_pts

__all__ = [
    "DatasetError", "FaceRecord", "ImageFileError", "LandmarkFileError", "load_face", "read_image",
    "read_pts", "scan_folder", "scan_folders", "scan_unlabeled", "split_train_val", "to_rgb_uint8", "write_pts",
]
