"""`python -m engines.cli COMMAND ...`: the same as `genstudio COMMAND ...` (what torchrun starts)."""

import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
