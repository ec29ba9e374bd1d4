"""Small questions the studio asks a person, in one place so every panel asks them the same way."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QMessageBox, QWidget
from engines.words import count


def ask_overwrite(parent: QWidget, path: Path) -> bool:
    """True when the person agrees to replace an existing file; the default answer is No."""
    answer = QMessageBox.question(parent, "Replace file?", f"{Path(path).name} already exists. Replace it?",
                                  QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                  QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes


def export_checked(frames, path, confirm_overwrite, **options) -> tuple[Path | None, str]:
    """Write frames with engines.export unless `path` exists and the person declines to replace it.

    Returns (the written path or None, a sentence for the panel's status line)."""
    from engines.export import ExportError, export_frames

    path = Path(path)
    if path.exists() and not confirm_overwrite(path):
        return None, "Export cancelled; nothing was overwritten."
    try:
        out = export_frames(frames, path, force=True, **options)
    except ExportError as exc:
        return None, f"Export failed: {exc}"
    return out, f"Exported {count(len(frames), 'frame')} to {out}."
