"""The exceptions that describe a person's mistake (as opposed to a bug), gathered in one place."""

from .config import ConfigError
from .export import ExportError
from .latent import LatentError
from .data import DataError
from .registry import UnknownFamily
from .train.checkpoint import CheckpointError
from .train.run import RunError
from .style import FeatureError, StyleError
from .tools.common import ToolError

PERSON_ERRORS: tuple[type[Exception], ...] = (ConfigError, DataError, UnknownFamily, CheckpointError, RunError,
                                                 ExportError, LatentError, FeatureError,
                                                 StyleError, ToolError)
