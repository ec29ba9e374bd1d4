"""Builders shared by engine and studio tests (imported from here, never from a conftest)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image


# Tiny trained runs are trained once per test session (per process) and copied into each test that asks
# for one, with run.json pointing at the test's own copy of the images: each test owns its run folder.
_RUNS: dict[tuple, tuple[Path, Path]] = {}
_RUN_ROOT: list[Path] = []


def _cache_root() -> Path:
    if not _RUN_ROOT:
        import atexit
        import shutil
        import tempfile

        root = Path(tempfile.mkdtemp(prefix="genstudio-test-runs-"))
        atexit.register(shutil.rmtree, root, True)
        _RUN_ROOT.append(root)
    return _RUN_ROOT[0]


def cached_run(key: tuple, root: Path, train) -> tuple[Path, Path]:
    """(images folder, run folder) under `root`: `train(folder)` -> (images, run) is called once per
    `key` in this session; every later call gets a copy."""
    import shutil

    if key not in _RUNS:
        _RUNS[key] = train(_cache_root() / f"{len(_RUNS)}")
    images, run = _RUNS[key]
    root.mkdir(parents=True, exist_ok=True)
    my_images, my_run = root / images.name, root / run.name
    shutil.copytree(images, my_images)
    shutil.copytree(run, my_run)
    record = my_run / "run.json"
    text = record.read_text()
    for old in {str(images.resolve()), str(images)}:  # the sources: this test's own images
        text = text.replace(old, str(my_images.resolve() if old == str(images.resolve()) else my_images))
    record.write_text(text)
    return my_images, my_run


def train_tiny_run(root: Path, steps: int = 6, sample_every: int = 2) -> Path:
    """A real DCGAN run folder (16 px grey, a few steps) trained through the CLI (once per session)."""
    def train(where: Path) -> tuple[Path, Path]:
        from engines.cli import main

        data = where / "imgs"
        data.mkdir(parents=True)
        for i in range(16):
            Image.new("L", (16, 16), color=i * 15).save(data / f"{i}.png")
        run = where / "run"
        code = main(["train", "--family", "dcgan", "--data", str(data), "--out", str(run), "--size", "16",
                     "--steps", str(steps), "--batch-size", "4", "--set", "latent_dim=8", "--set", "g_width=8",
                     "--set", "d_width=8", "--set", f"sample_every={sample_every}", "--quiet"])
        assert code == 0
        return data, run

    return cached_run(("dcgan", steps, sample_every), Path(root), train)[1]


def train_tiny_conditional_run(root: Path) -> tuple[Path, Path]:
    """(image folder with dark/light class subfolders, a cVAE run trained on it for 20 steps)."""
    from engines.cli import main

    for c, name in enumerate(("dark", "light")):
        (root / "imgs" / name).mkdir(parents=True)
        for i in range(8):
            Image.new("L", (16, 16), color=30 + 180 * c + i).save(root / "imgs" / name / f"{i}.png")
    run = root / "run"
    assert main(["train", "--family", "cvae", "--data", str(root / "imgs"), "--out", str(run), "--size", "16",
                 "--steps", "20", "--batch-size", "8", "--set", "latent_dim=4", "--set", "width=4",
                 "--set", "sample_every=0", "--quiet"]) == 0
    return root / "imgs", run


def tiny_dataset(n=48, size=16, channels=1, classes=0, seed=0):
    """Blobs at random places: cheap, learnable, deterministic."""
    import numpy as np

    from engines.data import ImageDataset

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    images = np.empty((n, size, size, channels), np.uint8)
    labels = np.zeros(n, np.int64) if not classes else np.arange(n) % classes
    for i in range(n):
        cy, cx = rng.uniform(size * 0.25, size * 0.75, 2)
        r = size * (0.15 + 0.1 * (labels[i] % 3 if classes else rng.uniform(0, 2)))
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
        images[i] = (blob[..., None] * 255).astype(np.uint8)
    names = [f"class{c}" for c in range(classes)]
    return ImageDataset(images, labels, names, sources=["<tiny>"])
