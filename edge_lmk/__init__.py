"""edge-lmk: tiny LaplaceKL facial-landmark models, compressed and exported for devices."""
__version__ = "0.1.0"
