"""Builders shared by engine and studio tests."""

from __future__ import annotations

from pathlib import Path

from PIL import Image


def train_tiny_run(root: Path, steps: int = 6, sample_every: int = 2) -> Path:
    """A real DCGAN run folder (16 px grey, a few steps) trained through the CLI."""
    from engines.cli import main

    data = root / "imgs"
    data.mkdir(parents=True)
    for i in range(16):
        Image.new("L", (16, 16), color=i * 15).save(data / f"{i}.png")
    run = root / "run"
    code = main(["train", "--family", "dcgan", "--data", str(data), "--out", str(run), "--size", "16",
                 "--steps", str(steps), "--batch-size", "4", "--set", "latent_dim=8", "--set", "g_width=8",
                 "--set", "d_width=8", "--set", f"sample_every={sample_every}", "--quiet"])
    assert code == 0
    return run


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
