"""Diffusion quality/speed check on digits: train the 28 px CPU preset for a fixed time, then sample.

    nice -n 10 /work/main/.venv/bin/python benchmarks/diffusion.py --seconds 300 --clock cpu --out /tmp/ddpm_bench

Builds the digit folder itself (engines/data/toy.py, copies=2, ~3.6k images, 10 classes), trains
`ddpm` with its preset through the normal training loop, and prints:
  - the loss at intervals;
  - seconds per image for DDIM at several step counts and for the full ancestral sampler (same run,
    so the ratios hold even on a busy machine);
  - class accuracy of conditional samples, judged by a nearest-neighbour classifier fitted on the
    real digits (a cheap stand-in for a person's eye), for DDIM 10/50 steps and full ancestral, and
    the class spread of unguided (unconditional) samples;
  - DDIM-50 against the full ancestral sampler on --compare images each (same labels): Fréchet
    distance to the real digits in engines/quality.py's feature space (with real-vs-real at the same
    count as the floor), and the share of "speckled" images: high-frequency energy (mean squared
    Laplacian) above what 99% of the real digits have. Noise left in a sample shows up there first.
and writes sample grids (one column per class) as PNGs into --out. Look at them.
--run DIR keeps the trained run (or reuses it when DIR already holds one) so sampling can be redone.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engines import registry  # noqa: E402
from engines.config import parse_assignments, replace_checked  # noqa: E402
from engines.data import load_images  # noqa: E402
from engines.data.toy import write_digit_folder  # noqa: E402
from engines.imaging import make_grid, save_png  # noqa: E402
from engines.quality import FeatureSpace  # noqa: E402
from engines.train import events as ev  # noqa: E402
from engines.train.loop import Control, Trainer, TrainSettings  # noqa: E402
from engines.train.restore import load_engine  # noqa: E402


def high_frequency(images: np.ndarray) -> np.ndarray:
    """Per image: mean squared discrete Laplacian of the [0, 1] pixels (speckle noise raises it)."""
    x = torch.from_numpy(np.asarray(images, dtype=np.float32)).permute(0, 3, 1, 2) / 255.0
    kernel = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]).expand(x.shape[1], 1, 3, 3)
    lap = torch.nn.functional.conv2d(x, kernel, groups=x.shape[1])
    return lap.pow(2).mean(dim=(1, 2, 3)).numpy()


def fit_judge(data):
    """A 5-nearest-neighbour digit classifier on 7 px versions of the real images (the digits'
    native resolution is 8 px, so little is lost); fits instantly."""
    from sklearn.neighbors import KNeighborsClassifier

    def features(images):
        x = torch.from_numpy(np.asarray(images)).float().permute(0, 3, 1, 2) / 255.0
        return torch.nn.functional.adaptive_avg_pool2d(x, 7).flatten(1).numpy()

    idx = np.random.default_rng(0).permutation(len(data))
    train, held = idx[:-400], idx[-400:]
    clf = KNeighborsClassifier(5).fit(features(data.images[train]), data.labels[train])
    held_acc = float((clf.predict(features(data.images[held])) == data.labels[held]).mean())
    return (lambda images: clf.predict(features(images))), held_acc


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=300, help="training time budget")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="cpu",
                    help="budget this process's CPU seconds (steady on a busy machine) or wall seconds")
    ap.add_argument("--compare-seed", type=int, default=21, help="noise seed of the comparison (Fréchet distances "
                    "over 100 images move by 10-20 between seeds)")
    ap.add_argument("--ms-per-step", type=float, default=None, help="training ms per step for the preview-cost ratio "
                    "when --run reuses a run (default: from the run's own log, said when used)")
    ap.add_argument("--run", default=None, help="keep the run in this folder; reuse it if it already holds one")
    ap.add_argument("--compare", type=int, default=60, help="images per sampler in the DDIM-50 vs ancestral "
                    "comparison (0: skip; the ancestral side costs ~T network passes per image)")
    ap.add_argument("--out", default="/tmp/ddpm_bench")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--size", type=int, default=28)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--per-class", type=int, default=4, help="grid rows (images per class)")
    ap.add_argument("--ancestral", action="store_true", help="also sample with the full ancestral sampler (slow)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes and a second or two of work: checks the script still runs (the suite runs it)")
    args = ap.parse_args()
    if args.smoke:
        args.seconds, args.compare, args.size, args.batch, args.per_class = 2, 4, 16, 8, 1
        from benchmarks._results import scratch_folder
        args.out = str(scratch_folder("ddpm-smoke-"))  # removed at exit
        args.set = [*args.set, "base_channels=8", "channel_mults=1", "timesteps=10", "sample_steps=4",
                                 "preview_steps=4"]
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory() as tmp:
        folder = write_digit_folder(Path(tmp) / "digits", size=args.size, copies=2)
        data = load_images([folder], size=args.size)
    print(f"data: {len(data)} images, {data.size}px, {data.channels} channel(s), {data.num_classes} classes")
    judge, held_acc = fit_judge(data)
    print(f"judge: 5-nearest-neighbours, held-out accuracy on real digits {held_acc:.3f}")

    if args.run and (Path(args.run) / "run.json").exists():
        engine, record = load_engine(args.run)
        if args.set:  # only the sampling keys (eta, guidance, preview_steps...) mean anything for a trained run
            engine.config = replace_checked(engine.config, **parse_assignments(args.set))
            engine.set_sampling_options(eta=str(engine.config.eta), guidance=str(engine.config.guidance))
        config = engine.config
        ms_per_step, source = ((float(args.ms_per_step), "given by --ms-per-step") if args.ms_per_step
                               else logged_ms_per_step(args.run))
        print(f"reusing {args.run} at step {record.checkpoint_step}: {config}")
        print(f"training ms per step: {'unknown' if ms_per_step is None else f'{ms_per_step:.0f}'} ({source})")
    else:
        engine, config, ms_per_step = train(args, data)
        if engine is None:
            return 1

    classes = data.num_classes
    n = classes * args.per_class
    labels = np.tile(np.arange(classes), args.per_class)

    def run(name: str, **options) -> np.ndarray:
        engine.set_sampling_options(**{k: str(v) for k, v in options.items()})
        t = time.perf_counter()
        images = engine.sample(n, seed=7, labels=labels)
        per_image = (time.perf_counter() - t) / n
        acc = float((judge(images) == labels).mean())
        save_png(make_grid(images, columns=classes), out / f"{name}.png", scale=3)
        print(f"  {name:28s} {per_image * 1000:8.1f} ms/image   class accuracy {acc:.3f}")
        return images

    print(f"sampling (conditional, one column per class, eta {config.eta:g}; accuracy judged by the classifier):")
    guidance = config.guidance
    for steps in [s for s in (10, 25, 50, 100) if s <= config.timesteps]:
        run(f"ddim_{steps}_g{guidance:g}", sampler="ddim", steps=steps, eta=config.eta, guidance=guidance)
    fifty = min(50, config.timesteps)   # a smoke run's short schedule has fewer timesteps
    run(f"ddim_{fifty}_g1", sampler="ddim", steps=fifty, eta=config.eta, guidance=1)
    if args.ancestral:
        run(f"ancestral_{config.timesteps}_g{guidance:g}", sampler="ancestral", steps=config.timesteps,
            guidance=guidance)
    engine.set_sampling_options(sampler="ddim", steps=str(fifty), guidance="0")
    uncond = engine.sample(n, seed=11, labels=labels)
    counts = np.bincount(judge(uncond), minlength=classes)
    save_png(make_grid(uncond, columns=classes), out / "unconditional_ddim_50.png", scale=3)
    print(f"  unconditional DDIM {fifty}: judged class counts {counts.tolist()} (of {n})")

    preview_cost(engine, data, ms_per_step, guidance)
    if args.compare:
        compare(engine, data, args.compare, guidance, config.timesteps, out, args.compare_seed,
                epochs=1 if args.smoke else 5)

    engine.set_sampling_options(sampler="ddim", steps=str(fifty), guidance=str(guidance))
    frames, ts = engine.sample_path(classes, seed=3, labels=np.arange(classes), keep_steps=8)
    path_grid = make_grid(frames.transpose(1, 0, 2, 3, 4).reshape(-1, *frames.shape[2:]), columns=len(ts))
    save_png(path_grid, out / "denoising_path.png", scale=3)
    print(f"  denoising path at timesteps {ts} -> denoising_path.png")
    print(f"grids in {out}")
    return 0


def train(args, data):
    family = registry.get("ddpm")
    config = replace_checked(family.preset(family.config_class(), args.size), **parse_assignments(args.set))
    settings = TrainSettings(steps=10_000_000, batch_size=args.batch, log_every=10 if args.smoke else 100, sample_every=0,
                             checkpoint_every=0, validate_every=0, monitor_every=0, n_samples=10, device="cpu")
    trainer = Trainer.new("ddpm", config, settings, data, args.run)
    print(f"config: {config}")
    print(f"parameters: {trainer.engine.parameter_count():,}")
    control = Control()
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    t0, c0, cpu0 = time.perf_counter(), clock(), time.process_time()
    for e in trainer.run(control):
        if isinstance(e, ev.Progress):
            print(f"  step {e.step:6d}  {time.perf_counter() - t0:6.0f}s wall {clock() - c0:6.0f}s {args.clock}  "
                  + "  ".join(f"{k} {v:.4f}" for k, v in e.losses.items()), flush=True)
            if clock() - c0 > args.seconds:
                control.request_stop()
        elif isinstance(e, ev.Failed):
            print("FAILED:", e.message, e.details)
            return None, config, 0.0
    steps_done = trainer.step
    spent = clock() - c0
    print(f"trained {steps_done} steps in {spent:.0f} {args.clock} s "
          f"({spent / max(steps_done, 1) * 1000:.0f} ms/step, batch {args.batch})")
    return trainer.engine, config, (time.process_time() - cpu0) / max(steps_done, 1) * 1000


def compare(engine, data, n: int, guidance: float, timesteps: int, out: Path, seed: int = 21,
            epochs: int = 5) -> None:
    """DDIM-50 (the default sampler) against the full ancestral sampler on the same labels."""
    space = FeatureSpace.fit(data.images, data.labels, epochs=epochs)
    rng = np.random.default_rng(0)
    real_a, real_b = (data.images[rng.choice(len(data), n, replace=False)] for _ in range(2))
    real_hf = high_frequency(data.images)
    threshold = np.percentile(real_hf, 99)
    labels = np.arange(n) % data.num_classes
    print(f"DDIM-50 vs ancestral-{timesteps}, {n} conditional images each, guidance {guidance:g} "
          f"(Fréchet distance to real digits; real vs real at {n} images: {space.frechet(real_a, real_b):.1f}; "
          f"speckled = high-frequency energy above 99% of real digits; seed {seed}):")
    for name, options in (("ddim_20_eta0.5", dict(sampler="ddim", steps=min(20, timesteps), eta=0.5)),
                          ("ddim_50_eta0", dict(sampler="ddim", steps=min(50, timesteps), eta=0)),
                          ("ddim_50_eta0.5", dict(sampler="ddim", steps=min(50, timesteps), eta=0.5)),
                          (f"ancestral_{timesteps}", dict(sampler="ancestral", steps=timesteps))):
        engine.set_sampling_options(**{k: str(v) for k, v in dict(options, guidance=guidance).items()})
        t = time.process_time()
        images = engine.sample(n, seed=seed, labels=labels)
        cpu = (time.process_time() - t) / n
        hf = high_frequency(images)
        accuracy = float((space.predict(images) == labels).mean())
        print(f"  {name:16s} Fréchet {space.frechet(real_a, images):6.1f}   speckled {np.mean(hf > threshold):5.3f}   "
              f"high-freq / real {hf.mean() / real_hf.mean():4.2f}   class accuracy {accuracy:.2f}   "
              f"{cpu * 1000:6.0f} CPU-ms/image", flush=True)
        save_png(make_grid(images, columns=data.num_classes), out / f"compare_{name}.png", scale=3)
    engine.set_sampling_options(eta=str(engine.config.eta))


def logged_ms_per_step(run: str) -> tuple[float | None, str]:
    """Training ms per step from a run's own metrics log (the loop's clock), never a fixed guess."""
    from engines.train.run import RunDir

    rows = [r for r in RunDir.open(run).read_metrics() if r.get("train_seconds") and r.get("step")]
    if not rows:
        return None, "the run's log has no training time; pass --ms-per-step"
    last = rows[-1]
    return 1000.0 * float(last["train_seconds"]) / int(last["step"]), \
        f"the run's log: {last['train_seconds']:.0f} s over {last['step']} steps, the loop's clock"


def preview_cost(engine, data, ms_per_step: float | None, guidance: float) -> None:
    """What the sample grid drawn during training costs (64 images, the loop's default)."""
    if ms_per_step is None:
        print("training-time grid cost: skipped (training ms per step unknown)")
        return
    labels = np.arange(64) % data.num_classes
    engine.set_sampling_options(sampler="ddim", steps=str(min(50, engine.config.timesteps)), eta=str(engine.config.eta),
                                guidance=str(guidance))
    t = time.process_time()
    engine.sample(64, seed=1, labels=labels)
    full = time.process_time() - t
    t = time.process_time()
    engine.preview(64, seed=1, labels=labels)
    preview = time.process_time() - t
    print(f"training-time grid of 64: {preview:.1f} CPU-s with preview_steps={engine.config.preview_steps} "
          f"(was {full:.1f} CPU-s at 50 steps) = {preview / (200 * ms_per_step / 1000):.0%} of the 200 training "
          f"steps between grids (was {full / (200 * ms_per_step / 1000):.0%})")


if __name__ == "__main__":
    from benchmarks._results import record_run  # its figures go to benchmarks/results/diffusion.json
    sys.exit(record_run("diffusion", main))
