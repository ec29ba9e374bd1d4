"""genstudio engines: everything that trains, samples, measures and exports, with no Qt in sight."""

__version__ = "0.1.0"
