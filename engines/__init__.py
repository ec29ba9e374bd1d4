"""genstudio engines: everything that trains, samples, measures and exports, with no Qt in sight."""

import os as _os

# PyTorch's OpenMP threads wait for work by spinning for a while (libgomp's default). On a machine
# where other work also wants the cores (a second run, a browser, the studio's own window) a spinning
# thread holds a core its peer needs to finish, and steps with more than one thread slow down many
# times over; sleeping threads cost a wake-up instead (benchmarks/threads_under_load.py measures both).
# Read once, when PyTorch's OpenMP library loads: set here, before anything imports torch. A value the
# person set (an empty one too: libgomp's default) is kept.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
