"""edge-lmk: tiny LaplaceKL facial-landmark models, compressed and exported for devices."""
__version__ = "0.1.0"

# Lazy exports (PEP 562): ``import edge_lmk`` stays cheap; torch, OpenCV and the detector
# load only when one of these names is first used.
_LAZY = {
    "FaceLandmarker": "edge_lmk.inference.landmarker",
    "Face": "edge_lmk.inference.landmarker",
    "BlazeFaceDetector": "edge_lmk.inference.detectors",
    "FhogFaceDetector": "edge_lmk.inference.detectors",
    "make_detector": "edge_lmk.inference.detectors",
    "FaceTracker": "edge_lmk.inference.tracking",
    "OneEuroFilter": "edge_lmk.inference.tracking",
    "OneEuroParams": "edge_lmk.inference.tracking",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'edge_lmk' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
