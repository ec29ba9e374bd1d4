"""genstudio's desktop studio (Qt). Importing this package does not import Qt."""

import engines  # noqa: F401,E402 - sets OpenMP's wait policy before anything loads torch (engines/__init__.py)
