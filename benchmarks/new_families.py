"""EBM, image transformer, VQ-VAE and latent diffusion beside the older families, at equal CPU time on digits.

    nice -n 10 python benchmarks/new_families.py --seconds 120 --out /tmp/newfam        # the README rows
    nice -n 10 python benchmarks/new_families.py --smoke                                 # seconds, plumbing only
    nice -n 10 python benchmarks/new_families.py ebm ldm:first_stage_family=ae --seconds 60

Each argument is a family name, optionally with settings: `name:key=value,...` on top of the
family's recipe for --size (its preset and its batch size from train_preset; `batch_size` can be
given too). Two-stage families (ldm, transformer with variant=tokens) train their own first stage
for first_stage_steps inside the same budget. Data: scikit-learn's 1,797 digits upscaled to --size
px (engines/data/toy.py), 10% held out. Training time is this process's CPU seconds (`--clock cpu`,
fairer on a shared machine); one thread.

Per family it prints: steps done, held-out bits/dim where the family has a likelihood (the
transformer's are over its quantised pixels, log2(levels) at most, so not comparable with the 8-bit
figures of PixelCNN and the VAE bound), the Fréchet distance of --judge samples to the training
digits in the feature space of a small digit classifier (engines/quality.py, the Compare panel's;
lower is better; the held-out real digits' own distance is printed first as the floor), how many of
the 10 classes the classifier finds among them, and the sampling time per image (CPU seconds, one
thread, drawn in one batch of --judge images).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engines import registry  # noqa: E402
from engines.config import replace_checked  # noqa: E402
from engines.data import ImageDataset  # noqa: E402
from engines.data.toy import digit_images  # noqa: E402
from engines.families.base import Batch, DataSpec  # noqa: E402
from engines.imaging import make_grid, save_png  # noqa: E402
from engines.quality import FeatureSpace  # noqa: E402
from engines.train.loop import TrainSettings  # noqa: E402

DEFAULT = ["ebm", "transformer", "transformer:variant=tokens,first_stage_steps=500", "vqvae",
           "ldm:first_stage_steps=500", "ddpm", "pixelcnn", "vae"]
SMOKE = {"ebm": "width=4,buffer_size=32,sgld_steps=2,sample_steps=3",
         "transformer": "layers=1,dim=16,heads=2",
         "vqvae": "width=4,code_dim=2,codebook_size=8",
         "ldm": "first_stage_width=4,base_channels=8,channel_mults=1,num_res_blocks=1,timesteps=50,sample_steps=3",
         "ddpm": "base_channels=8,channel_mults=1,timesteps=50,sample_steps=3",
         "pixelcnn": "layers=2,hidden=6,head=8", "vae": "latent_dim=2,width=4"}


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    name, _, rest = spec.partition(":")
    return name, dict(item.split("=", 1) for item in rest.split(",") if item)


def batches(images: np.ndarray, labels: np.ndarray, size: int, rng: np.random.Generator):
    while True:
        order = rng.permutation(len(images))
        for i in range(0, len(order) - size + 1, size):
            idx = np.sort(order[i:i + size])
            yield Batch(torch.from_numpy(images[idx]).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(labels[idx]))


def run_one(spec: str, train: ImageDataset, val: ImageDataset, space: FeatureSpace, args) -> dict:
    name, settings = parse_spec(spec)
    if args.smoke and name in SMOKE:
        settings = {**parse_spec(f"{name}:{SMOKE[name]}")[1], **settings}
        if "first_stage_steps" in settings or name == "ldm":
            settings["first_stage_steps"] = "3"
    family = registry.get(name)
    recipe = registry.default_settings(name, args.size, TrainSettings())
    batch_size = int(settings.pop("batch_size", recipe.batch_size))
    config = family.config_class()
    if family.preset is not None:
        config = family.preset(config, args.size)
    config = replace_checked(config, **settings)
    torch.manual_seed(0)
    engine = family.engine_class(config, DataSpec(train.size, train.channels, train.num_classes,
                                                  tuple(train.class_names)))
    stream = batches(train.images, np.asarray(train.labels, np.int64), batch_size, np.random.default_rng(0))
    start, steps = time.process_time(), 0
    while time.process_time() - start < args.seconds:
        engine.train_step(next(stream), steps, 10**9)
        steps += 1
    cpu = time.process_time() - start
    val_batch = [Batch(torch.from_numpy(val.images).permute(0, 3, 1, 2).contiguous(),
                       torch.from_numpy(np.asarray(val.labels, np.int64)))]
    measures = engine.validate(val_batch)
    labels = np.arange(args.judge) % 10 if engine.conditional else None
    t = time.process_time()  # CPU seconds: wall time on a shared machine measures the neighbours
    images = engine.sample(args.judge, seed=2, labels=labels)
    per_image = (time.process_time() - t) / args.judge
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        tag = spec.replace(":", "_").replace(",", "_").replace("=", "-")
        save_png(make_grid(images[:40], columns=10), Path(args.out) / f"{tag}.png", scale=2)
    return {"spec": spec, "steps": steps, "cpu_s": cpu, "bpd": measures.get("bits_per_dim"),
            "frechet": space.frechet(images, train.images), "classes": space.classes_covered(images),
            "sample_s": per_image}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("families", nargs="*", default=DEFAULT)
    ap.add_argument("--seconds", type=float, default=120.0, help="CPU seconds of training per family")
    ap.add_argument("--size", type=int, default=16)
    ap.add_argument("--judge", type=int, default=200, help="samples judged per family")
    ap.add_argument("--out", default="", help="folder for sample grids")
    ap.add_argument("--smoke", action="store_true", help="tiny networks, a quarter of a CPU second each, 8 samples: checks the plumbing")
    args = ap.parse_args(argv)
    if args.smoke:
        args.seconds, args.judge, args.size = 0.25, 8, 12
    torch.set_num_threads(1)
    images, labels = digit_images(args.size, 1)
    data = ImageDataset(images[..., None], labels, [str(d) for d in range(10)], sources=["<digits>"])
    train, val = data.split(0.1, seed=0)
    space = FeatureSpace.fit(train.images, np.asarray(train.labels), epochs=2 if args.smoke else 10)
    n = min(args.judge, len(val))
    print(f"digits {args.size}px: {len(train)} train / {len(val)} held out; {args.seconds:g} CPU s per family, "
          f"1 thread; {args.judge} samples judged")
    print(f"held-out real digits ({n}): Fréchet {space.frechet(val.images[:n], train.images):.1f}, "
          f"classes {space.classes_covered(val.images[:n])}/10")
    print(f"{'family':52s} {'steps':>6s} {'cpu s':>6s} {'bits/dim':>9s} {'Fréchet':>8s} {'classes':>7s} {'cpu s/img':>9s}")
    for spec in args.families:
        r = run_one(spec, train, val, space, args)
        bpd = "-" if r["bpd"] is None else f"{r['bpd']:.3f}"
        print(f"{r['spec']:52s} {r['steps']:6d} {r['cpu_s']:6.0f} {bpd:>9s} {r['frechet']:8.1f} {r['classes']:7d} "
              f"{r['sample_s']:9.4f}", flush=True)


if __name__ == "__main__":
    from benchmarks._results import record_run  # its figures go to benchmarks/results/new_families.json
    sys.exit(record_run("new_families", main))
