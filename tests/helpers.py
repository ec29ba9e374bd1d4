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
