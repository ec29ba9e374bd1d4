import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _private_image_cache(tmp_path_factory, monkeypatch):
    """Ingestion caches decoded images; tests keep theirs out of the user's cache directory."""
    if "GENSTUDIO_CACHE" not in os.environ:
        monkeypatch.setenv("GENSTUDIO_CACHE", str(tmp_path_factory.getbasetemp() / "genstudio-cache"))


# Automatic CPU threads stay at one per core without probing: runs a test compares must not depend
# on how busy the machine is (tests of the tuner switch it on themselves). Subprocesses inherit it.
os.environ.setdefault("GENSTUDIO_THREAD_PROBE", "0")
