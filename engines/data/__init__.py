"""Data: scan folders, decode and preprocess images, hand families uint8 arrays."""

from .dataset import ImageDataset, RowView, Skipped
from .ingest import ALLOWED_FORMATS, FIT_MODES, MAX_SIZE, MIN_SIZE, DataError, IngestCancelled, load_images, parse_background

__all__ = ["ImageDataset", "RowView", "Skipped", "DataError", "IngestCancelled", "FIT_MODES", "ALLOWED_FORMATS",
           "MIN_SIZE", "MAX_SIZE", "load_images", "parse_background"]
