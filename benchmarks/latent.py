"""Time per interpolated frame, per family with a latent space, at 32 px on this machine's CPU.

    .venv/bin/python benchmarks/latent.py [--size 32] [--frames 16] [--families dcgan,vae,...]

Weights are freshly initialised (speed does not depend on training). For each family it prints
the time to place one real image in the latent space (encoder, exact inverse, DDIM inversion or
GAN projection) and the time per decoded frame of a 16-frame slerp path.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from engines import registry  # noqa: E402
from engines.families.base import DataSpec  # noqa: E402
from engines.latent import latent_support, path, to_latents  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--families", default=",".join(registry.names()))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--smoke", action="store_true", help="tiny sizes and a second or two of work: checks the script still runs (the suite runs it)")
    args = ap.parse_args()
    if args.smoke:
        args.size, args.frames, args.families, args.threads = 16, 3, "vae,realnvp", 1
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, {args.size}px, {args.frames} frames")
    print(f"{'family':10s} {'reach a real image':>20s} {'ms/frame':>10s}  how")
    for name in args.families.split(","):
        fam = registry.get(name)
        config = fam.config_class()
        if fam.preset is not None:
            config = fam.preset(config, args.size)
        torch.manual_seed(0)
        engine = fam.engine_class(config, DataSpec(args.size, 3), "cpu")
        for m in engine.modules().values():
            m.eval()
        how = latent_support(engine)
        if how is None:
            print(f"{name:10s} {'-':>20s} {'-':>10s}  no latent space")
            continue
        image = (np.random.default_rng(0).random((1, args.size, args.size, 3)) * 255).astype(np.uint8)
        t0 = time.perf_counter()
        z = to_latents(engine, image)[0]
        t_enc = time.perf_counter() - t0
        b = engine.random_latents(1, 1)[0]
        latents = path(z, b, args.frames)
        engine.decode(latents[:2])  # warm-up
        t0 = time.perf_counter()
        engine.decode(latents)
        per_frame = (time.perf_counter() - t0) / args.frames
        print(f"{name:10s} {t_enc:>19.2f}s {per_frame * 1000:>10.1f}  {how}")


if __name__ == "__main__":
    from benchmarks._results import record_run  # its figures go to benchmarks/results/latent.json
    sys.exit(record_run("latent", main))
