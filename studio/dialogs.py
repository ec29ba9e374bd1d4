"""Small questions the studio asks a person, in one place so every panel asks them the same way."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QMessageBox, QWidget


def ask_overwrite(parent: QWidget, path: Path) -> bool:
    """True when the person agrees to replace an existing file; the default answer is No."""
    answer = QMessageBox.question(parent, "Replace file?", f"{Path(path).name} already exists. Replace it?",
                                  QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                  QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes
