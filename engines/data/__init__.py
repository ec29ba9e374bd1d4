"""Data: scan folders, decode and preprocess images, hand families uint8 arrays."""

from .dataset import ImageDataset, Skipped
from .ingest import FIT_MODES, DataError, load_images

__all__ = ["ImageDataset", "Skipped", "DataError", "FIT_MODES", "load_images"]
