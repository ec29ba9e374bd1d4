"""Engine DCGAN step time vs a plain PyTorch loop of the same networks, optimisers and batch.

    nice -n 10 .venv/bin/python benchmarks/engine_overhead.py [--size 32] [--batch 64] [--steps 5] [--rounds 16]
    .venv/bin/python benchmarks/engine_overhead.py --smoke

Both loops train the engine's own Generator/Discriminator (same widths, same Adam settings) on the
same uint8 data; short chunks of steps alternate (engine, plain, engine, plain, ...) so a busy
machine hurts both alike. Prints the median seconds per step of each and the ratio plain / engine: >= 1.0 means the
engine (with its events, logging and data order bookkeeping) is not slower than the plain loop.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch
from torch.nn import functional as F

from engines.data import ImageDataset
from engines.families.gan import DCGANConfig
from engines.nn.gan_blocks import ConvDiscriminator, ConvGenerator, init_dcgan_weights
from engines.train import events as ev
from engines.train.loop import Control, Trainer, TrainSettings


def make_data(n: int, size: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size]
    images = np.empty((n, size, size, 1), np.uint8)
    for i in range(n):
        cy, cx = rng.uniform(size * 0.3, size * 0.7, 2)
        r = size * rng.uniform(0.1, 0.25)
        images[i, ..., 0] = (255 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))).astype(np.uint8)
    return images


def engine_steps(images: np.ndarray, cfg: DCGANConfig, batch: int):
    """The engine's loop as a step iterator: yields once per training step (log_every=1)."""
    dataset = ImageDataset(images, np.zeros(len(images), np.int64), [])
    settings = TrainSettings(steps=10_000_000, batch_size=batch, log_every=1, sample_every=0,
                             checkpoint_every=0, validate_every=0, monitor_every=0, device="cpu", n_samples=1)
    trainer = Trainer.new("dcgan", cfg, settings, dataset, out_dir=None)
    for event in trainer.run(Control()):
        if isinstance(event, ev.Progress):
            yield
        elif isinstance(event, ev.Failed):
            raise RuntimeError(event.message)


def plain_steps(images: np.ndarray, cfg: DCGANConfig, batch: int):
    """The same networks and optimisers in a plain PyTorch loop; yields once per step."""
    size, channels = images.shape[1], images.shape[3]
    torch.manual_seed(0)
    G, D = ConvGenerator(cfg.latent_dim, cfg.g_width, size, channels), ConvDiscriminator(cfg.d_width, size, channels)
    G.apply(init_dcgan_weights)
    D.apply(init_dcgan_weights)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2))
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2))
    data = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    order, pos = torch.randperm(len(data)), 0
    while True:
        if pos + batch > len(data):
            order, pos = torch.randperm(len(data)), 0
        real = data[order[pos:pos + batch]].float().div_(127.5).sub_(1.0)
        pos += batch
        fake = G(torch.randn(batch, cfg.latent_dim))
        d_real, d_fake = D(real), D(fake.detach())
        loss_d = (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
                  + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        d_g = D(fake)
        loss_g = F.binary_cross_entropy_with_logits(d_g, torch.ones_like(d_g))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        _ = (loss_d.item(), loss_g.item())  # a real loop logs its losses too
        yield


def time_chunk(steps, k: int) -> float:
    t = time.perf_counter()
    for _ in range(k):
        next(steps)
    return (time.perf_counter() - t) / k


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--steps", type=int, default=5, help="steps per chunk")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--rounds", type=int, default=16, help="alternating chunk pairs")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--smoke", action="store_true", help="tiny sizes and a few steps: checks the script runs")
    a = p.parse_args()
    if a.smoke:
        a.size, a.batch, a.width, a.steps, a.warmup, a.rounds = 16, 8, 8, 1, 1, 2
    torch.set_num_threads(a.threads)
    images = make_data(64 if a.smoke else 2048, a.size)
    cfg = DCGANConfig(g_width=a.width, d_width=a.width)
    engine_it, plain_it = engine_steps(images, cfg, a.batch), plain_steps(images, cfg, a.batch)
    time_chunk(engine_it, a.warmup)
    time_chunk(plain_it, a.warmup)
    # Short alternating chunks: load changes on a shared machine hit both loops alike.
    engine, plain = [], []
    for r in range(a.rounds):
        engine.append(time_chunk(engine_it, a.steps))
        plain.append(time_chunk(plain_it, a.steps))
    pair_ratios = [q / e for e, q in zip(engine, plain)]
    e, q = statistics.median(engine), statistics.median(plain)
    print(f"DCGAN {a.size}px grey, batch {a.batch}, width {a.width}, {a.threads} thread(s), "
          f"{a.rounds} alternating chunks of {a.steps} steps each")
    print(f"engine median {e * 1000:.1f} ms/step; plain PyTorch median {q * 1000:.1f} ms/step")
    print(f"ratio plain/engine = {q / e:.3f} (medians); median of paired-chunk ratios "
          f"{statistics.median(pair_ratios):.3f}  (goal >= 1.0)")


if __name__ == "__main__":
    from benchmarks._results import record_run  # its figures go to benchmarks/results/engine_overhead.json
    sys.exit(record_run("engine_overhead", main))
