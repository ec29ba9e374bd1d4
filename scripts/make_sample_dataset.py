"""Regenerate assets/sample-digits: the dataset the studio offers on first launch.

    .venv/bin/python scripts/make_sample_dataset.py

1,797 handwritten digits (scikit-learn's bundled set) at 28 px, one subfolder per digit.
"""

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from engines.data.toy import write_digit_folder  # noqa: E402

target = Path(__file__).resolve().parents[1] / "assets" / "sample-digits"
if target.exists():
    shutil.rmtree(target)
write_digit_folder(target, size=28)
print(f"wrote {sum(1 for _ in target.rglob('*.png'))} images to {target}")
