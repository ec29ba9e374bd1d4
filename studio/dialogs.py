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
    from engines.export import ExportError, export_frames, names_image_file

    path = Path(path)
    one_file = path.suffix.lower() in (".gif", ".mp4") or names_image_file(path)
    # a folder under a file's name is refused by the export below: no "replace it?" question first
    if path.exists() and not (one_file and path.is_dir()) and not confirm_overwrite(path):
        return None, "Export cancelled; nothing was overwritten."
    try:
        out = export_frames(frames, path, force=True, **options)
    except ExportError as exc:
        return None, f"Export failed: {exc}"
    return out, f"Exported {count(len(frames), 'frame')} to {out}."


# --- file dialogs that remember their folder, per purpose ----------------------------------------------
# A purpose is what the file is for ("images", "runs", "export", "mask", "weights", ...): the dialog opens
# where the person last chose a file for the same purpose (kept in the studio's settings), else in a
# sensible default (the runs folder for runs, the home folder otherwise), never in the source checkout.

def _settings():
    from .workspace import make_settings
    return make_settings()


def start_folder(purpose: str) -> str:
    remembered = _settings().value(f"folders/{purpose}")
    if remembered and Path(str(remembered)).is_dir():
        return str(remembered)
    if purpose == "runs":
        from .workspace import runs_root
        root = runs_root()
        if root.is_dir():
            return str(root)
    return str(Path.home())


def remember_folder(purpose: str, chosen: str | Path) -> None:
    """Keep the folder of `chosen` (a file or a folder) for the next dialog of this purpose."""
    if not chosen:
        return
    path = Path(chosen)
    folder = path if path.is_dir() else path.parent
    settings = _settings()
    settings.setValue(f"folders/{purpose}", str(folder))
    settings.sync()


def open_file(parent: QWidget | None, title: str, purpose: str, filters: str = "") -> str:
    from PySide6.QtWidgets import QFileDialog
    path, _ = QFileDialog.getOpenFileName(parent, title, start_folder(purpose), filters)
    remember_folder(purpose, path)
    return path


def open_files(parent: QWidget | None, title: str, purpose: str, filters: str = "") -> list[str]:
    from PySide6.QtWidgets import QFileDialog
    paths, _ = QFileDialog.getOpenFileNames(parent, title, start_folder(purpose), filters)
    if paths:
        remember_folder(purpose, paths[0])
    return list(paths)


def open_folder(parent: QWidget | None, title: str, purpose: str) -> str:
    from PySide6.QtWidgets import QFileDialog
    folder = QFileDialog.getExistingDirectory(parent, title, start_folder(purpose))
    remember_folder(purpose, folder)
    return folder


def save_file(parent: QWidget | None, title: str, purpose: str, suggested: str, filters: str = "") -> str:
    """`suggested`: a file name (put in the remembered folder) or a whole path (used as it is)."""
    from PySide6.QtWidgets import QFileDialog
    start = suggested if Path(suggested).is_absolute() else str(Path(start_folder(purpose)) / suggested)
    path, _ = QFileDialog.getSaveFileName(parent, title, start, filters)
    remember_folder(purpose, path)
    return path
