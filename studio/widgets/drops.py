"""What a drag and drop names."""

from __future__ import annotations


def local_paths(mime) -> list[str]:
    """Local files and folders named by a drag's URLs (remote URLs are ignored)."""
    if not mime.hasUrls():
        return []
    return [u.toLocalFile() for u in mime.urls() if u.isLocalFile() and u.toLocalFile()]
