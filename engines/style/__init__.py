"""Neural style transfer (Qt-free): feature networks without downloads and Gatys optimisation.

The feed-forward family (Johnson et al.) lives in engines/families/style.py and uses these parts.
"""

from .features import FEATURE_CHOICES_HELP, FeatureError, Features, ModuleFeatures, RandomFeatures, VGG19Features, load_features
from .gatys import MAX_SIZE, MIN_SIZE, StyleError, StyleOptions, StyleProgress, StyleResult, check_size, stylize

__all__ = ["FEATURE_CHOICES_HELP", "FeatureError", "Features", "ModuleFeatures", "RandomFeatures", "VGG19Features",
           "load_features", "MAX_SIZE", "MIN_SIZE", "StyleError", "StyleOptions", "StyleProgress", "StyleResult",
           "check_size", "stylize"]
