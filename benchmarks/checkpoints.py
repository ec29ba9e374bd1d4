"""Checkpoint cost: save/load time for a DCGAN and a diffusion-sized model, and what checkpointing
at the default interval costs in training throughput (goal: at most 3%).

    nice -n 10 python benchmarks/checkpoints.py            # about 2-4 minutes on 2 busy cores
    nice -n 10 python benchmarks/checkpoints.py --quick    # a smoke run

Throughput: two identical runs advanced in lockstep (one step each in turn), one checkpointing
every N steps and one never, so both share the machine's noise; the default interval (500 steps
would take too long here) is extrapolated from the measured save and step times.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engines import registry  # noqa: E402
from engines.config import replace_checked  # noqa: E402
from engines.data import ImageDataset  # noqa: E402
from engines.families.base import DataSpec, Engine  # noqa: E402
from engines.families.gan import DCGANConfig  # noqa: E402
from engines.train.checkpoint import (engine_state, latest_checkpoint, load_checkpoint,  # noqa: E402
                                      load_engine_state, rng_state, save_checkpoint)
from engines.train import events as ev  # noqa: E402
from engines.train.loop import Trainer, TrainSettings  # noqa: E402


class _ResBlock(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.net = nn.Sequential(nn.GroupNorm(32, ch), nn.SiLU(), nn.Conv2d(ch, ch, 3, padding=1),
                                 nn.GroupNorm(32, ch), nn.SiLU(), nn.Conv2d(ch, ch, 3, padding=1))

    def forward(self, x):
        return x + self.net(x)


class StandInUNet(nn.Module):
    """Roughly a DDPM U-Net's parameter count and layer mix (only its size matters here)."""

    def __init__(self, widths=(96, 192, 256, 384), blocks=2):
        super().__init__()
        layers, ch = [nn.Conv2d(3, widths[0], 3, padding=1)], widths[0]
        for w in widths:
            layers += [nn.Conv2d(ch, w, 3, padding=1)] + [_ResBlock(w) for _ in range(blocks)]
            ch = w
        for w in reversed(widths):  # the decoder half, with its wider skip inputs
            layers += [nn.Conv2d(ch + w, w, 3, padding=1)] + [_ResBlock(w) for _ in range(blocks)]
            ch = w
        self.layers = nn.ModuleList(layers)


class StandInDiffusion(Engine):
    """A model + EMA copy + Adam state + cosine scheduler: what a diffusion checkpoint holds."""
    family = "stand-in-diffusion"

    def __init__(self):
        super().__init__(None, DataSpec(32, 3))
        self.model = StandInUNet()
        self.ema = StandInUNet()
        self.ema.load_state_dict(self.model.state_dict())
        self.opt = torch.optim.Adam(self.model.parameters(), lr=2e-4)
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt, 100_000)
        for p in self.model.parameters():  # materialise Adam's moments, as after the first step
            p.grad = torch.zeros_like(p)
        self.opt.step()
        self.sched.step()

    def modules(self):
        return {"model": self.model, "ema": self.ema}

    def optimizers(self):
        return {"model": self.opt}

    def schedulers(self):
        return {"model": self.sched}


def _diffusion_engine() -> tuple[Engine, str]:
    """The real diffusion family if it is registered, else the stand-in."""
    if "diffusion" in registry.names():
        fam = registry.get("diffusion")
        config = fam.preset(fam.config_class(), 32) if fam.preset else fam.config_class()
        engine = fam.engine_class(config, DataSpec(32, 3), "cpu")
        return engine, "diffusion family (32px RGB preset)"
    return StandInDiffusion(), "25M U-Net stand-in + EMA copy + Adam"


def _dcgan_engine(size: int) -> Engine:
    fam = registry.get("dcgan")
    return fam.engine_class(fam.config_class(), DataSpec(size, 3), "cpu")


def time_save_load(engine: Engine, folder: Path, repeats: int) -> tuple[float, float, int]:
    """(median save s, median load s, bytes) through the same functions the loop uses."""
    saves, loads = [], []
    for i in range(repeats):
        t = time.perf_counter()
        path = save_checkpoint(folder, i + 1, {"engine": engine_state(engine), "rng": rng_state()},
                               {"family": engine.family}, keep=2)
        saves.append(time.perf_counter() - t)
        t = time.perf_counter()
        payload, _ = load_checkpoint(path)
        load_engine_state(engine, payload["engine"])
        loads.append(time.perf_counter() - t)
    size = path.with_suffix(".safetensors").stat().st_size
    return statistics.median(saves), statistics.median(loads), size


def _dataset(n=512, size=32, seed=0) -> ImageDataset:
    rng = np.random.default_rng(seed)
    return ImageDataset(rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8), np.zeros(n, np.int64), [])


def interleaved_ab(steps: int, interval: int, folder: Path, batch: int) -> dict[str, float]:
    """Two identical DCGAN runs advanced one step each in turn, one checkpointing every `interval`
    steps and one never, so both see the same machine noise. Seconds spent in each, plus saves."""
    def make(name, every):
        settings = TrainSettings(steps=steps, batch_size=batch, checkpoint_every=every, sample_every=0,
                                 log_every=1, monitor_every=0, validate_every=0, n_samples=4)
        return Trainer.new("dcgan", DCGANConfig(), settings, _dataset(), folder / name)

    every, never = make("every", interval), make("none", 0)
    saves: list[float] = []
    real_save = every.save

    def timed_save(*args, **kwargs):
        t = time.perf_counter()
        try:
            return real_save(*args, **kwargs)
        finally:
            saves.append(time.perf_counter() - t)

    every.save = timed_save
    per_step: dict[str, list[float]] = {"every": [], "none": []}
    runs = {"every": every.run(), "none": never.run()}
    for gen in runs.values():  # Started and the first samples are not training time
        for e in gen:
            if isinstance(e, ev.Samples):
                break
    for i in range(steps):  # one step each, first one then the other, swapping who goes first
        for name in (("every", "none") if i % 2 == 0 else ("none", "every")):
            t = time.perf_counter()
            for e in runs[name]:  # up to the next Progress: the step plus any save before it
                if isinstance(e, ev.Progress):
                    break
            per_step[name].append(time.perf_counter() - t)
    for gen in runs.values():
        gen.close()
    return {"every": sum(per_step["every"]), "none": sum(per_step["none"]), "saves": saves,
            "median_ratio": statistics.median(a / b for a, b in zip(per_step["every"], per_step["none"]))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny smoke run")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ab-interval", type=int, default=10,
                    help="checkpoint interval of the measured A/B runs (the default interval, "
                         f"{TrainSettings().checkpoint_every}, is extrapolated from the same figures)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--smoke", action="store_true", help="tiny sizes and a second or two of work: checks the script still runs (the suite runs it)")
    args = ap.parse_args()
    if args.smoke:
        args.quick = True
    torch.set_num_threads(args.threads)
    repeats = 2 if args.quick else 3
    interval = 2 if args.quick else args.ab_interval
    default_interval = TrainSettings().checkpoint_every
    print(f"torch {torch.__version__}, {args.threads} threads; timings on a shared, busy machine")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rows = []
        models = [("DCGAN 32px (defaults)", lambda: _dcgan_engine(32)), ("DCGAN 64px (defaults)", lambda: _dcgan_engine(64))]
        if not args.quick:
            models.append(("diffusion-sized", _diffusion_engine))
        for label, make in models:
            engine = make()
            if isinstance(engine, tuple):
                engine, what = engine
                label = f"{label}: {what}"
            save_s, load_s, size = time_save_load(engine, tmp / f"m{len(rows)}", repeats)
            rows.append((label, engine.parameter_count(), size, save_s, load_s))
            del engine
        print(f"\n{'model':48s} {'params':>11s} {'file MB':>8s} {'save s':>7s} {'load s':>7s}")
        for label, n, size, save_s, load_s in rows:
            print(f"{label:48s} {n:11,d} {size / 1e6:8.1f} {save_s:7.3f} {load_s:7.3f}")

        # A/B in lockstep: the checkpoint at step k is written when the loop goes on after step k,
        # so `steps` = 2 * interval + 1 counts two saves.
        steps = 2 * interval + 1
        ab = interleaved_ab(steps, interval, tmp / "ab", args.batch_size)
        per_step = ab["none"] / steps
        save_mean = statistics.mean(ab["saves"])
        print(f"\nthroughput, DCGAN 32px, batch {args.batch_size}, {steps} steps each, in lockstep:")
        print(f"  no checkpoints          {steps * args.batch_size / ab['none']:8.1f} img/s  ({per_step * 1e3:.0f} ms/step)")
        print(f"  every {interval:<4d} steps        {steps * args.batch_size / ab['every']:8.1f} img/s  "
              f"({len(ab['saves'])} saves, {1e3 * save_mean:.0f} ms each)")
        print(f"  measured overhead       {100 * (ab['every'] / ab['none'] - 1):+7.2f}%  at every {interval} steps "
              f"(median step ratio {ab['median_ratio']:.3f}; noisy on a shared machine)")
        print(f"  time inside save        {100 * sum(ab['saves']) / ab['every']:7.2f}%  of the checkpointing run")
        print(f"at the default interval ({default_interval} steps) of {per_step * 1e3:.0f} ms steps "
              f"(save time / training time):")
        for label, n, size, save_s, load_s in rows:
            print(f"  {label:48s} {100 * save_s / (default_interval * per_step):6.3f}% overhead")
        print("  (a diffusion model's steps are far slower than these DCGAN steps, so its real share is lower)")


if __name__ == "__main__":
    from benchmarks._results import record_run  # its figures go to benchmarks/results/checkpoints.json
    sys.exit(record_run("checkpoints", main))
