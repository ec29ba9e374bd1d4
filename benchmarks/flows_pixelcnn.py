"""Train RealNVP, Glow and gated PixelCNN for a fixed time on digits; print held-out bits/dim and time.

    nice -n 10 python benchmarks/flows_pixelcnn.py --seconds 300 --clock cpu --out /tmp/flowbench
    nice -n 10 python benchmarks/flows_pixelcnn.py pixelcnn realnvp --seconds 900 --clock cpu \
        --marks 60,120,300,600 --temperatures 1,0.8 --out /tmp/flowbench
    nice -n 10 python benchmarks/flows_pixelcnn.py realnvp:batch_size=32 glow:coupling=additive --seconds 90 --clock cpu

Each argument is a family name, optionally with settings: `name:key=value,...` on top of the
family's recipe for --size (its preset, and its batch size from the family's train_preset;
`batch_size` and `lr` can be given too). The data is built here: scikit-learn's digits upscaled
to --size px with --copies shifted/rotated variants (engines/data/toy.py), 10% held out. The
uniform-noise baseline is 8 bits/dim; small flows and PixelCNNs reach about 1-1.5 on MNIST-like
data after long training. `--clock cpu` budgets this process's CPU seconds instead of wall
seconds, which is fairer on a shared machine; both are printed. `--marks` also prints held-out
bits/dim (and writes grids) after that much training; validating and sampling are not counted as
training time. Sample grids go to --out, one per --temperatures value.

`--judge N` draws N more samples per temperature at the end and has a small classifier of the
training digits (engines/quality.py, the one the Compare panel uses) judge them: the share it reads
as the class asked for (conditional families) and the Fréchet distance to the training digits in its
feature space. The same figures for the held-out real digits are printed first as the ceiling.
(The classifier's confidence is no measure of "recognisable": it is sure of a third of pure noise.)
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
from engines.config import replace_checked, to_dict  # noqa: E402
from engines.data import ImageDataset  # noqa: E402
from engines.data.toy import digit_images  # noqa: E402
from engines.families.base import Batch, DataSpec  # noqa: E402
from engines.imaging import make_grid, save_png  # noqa: E402
from engines.quality import FeatureSpace  # noqa: E402
from engines.train.loop import TrainSettings  # noqa: E402


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    name, _, rest = spec.partition(":")
    settings = dict(item.split("=", 1) for item in rest.split(",") if item)
    return name, settings


def batches(images: np.ndarray, labels: np.ndarray, size: int, rng: np.random.Generator):
    while True:
        order = rng.permutation(len(images))
        for i in range(0, len(order) - size + 1, size):
            idx = np.sort(order[i:i + size])
            yield Batch(torch.from_numpy(images[idx]).permute(0, 3, 1, 2).contiguous(),
                        torch.from_numpy(labels[idx]))


def save_grids(engine, spec: str, when: str, args) -> float:
    """A sample grid per --temperatures value (or the recipe's own) into --out; returns the seconds of
    the last sampling."""
    labels = np.arange(args.samples) % 10 if engine.conditional else None
    sample_s = 0.0
    for temperature in args.temperatures or [None]:
        if temperature is not None:
            engine.set_sampling_options(temperature=str(temperature))
        t = time.perf_counter()
        images = engine.sample(args.samples, seed=1, labels=labels)
        sample_s = time.perf_counter() - t
        if args.out:
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            tag = spec.replace(":", "_").replace(",", "_").replace("=", "-")
            suffix = when + ("" if temperature is None else f"_T{temperature:g}")
            save_png(make_grid(images, columns=10 if engine.conditional else None), out / f"{tag}{suffix}.png",
                     scale=2)
    return sample_s


def judge(space: FeatureSpace, images: np.ndarray, labels: np.ndarray | None, real: np.ndarray) -> dict:
    out = {"frechet": space.frechet(images, real)}
    if labels is not None:
        out["class_accuracy"] = float((space.predict(images) == labels).mean())
    return out


def judge_samples(engine, space: FeatureSpace, real: np.ndarray, args) -> list[tuple[float | None, dict]]:
    labels = np.arange(args.judge) % 10 if engine.conditional else None
    results = []
    for temperature in args.temperatures or [None]:
        if temperature is not None:
            engine.set_sampling_options(temperature=str(temperature))
        images = engine.sample(args.judge, seed=2, labels=labels)
        results.append((temperature, judge(space, images, labels, real)))
    return results


def describe(verdict: dict) -> str:
    text = f"Fréchet distance {verdict['frechet']:.1f}"
    if "class_accuracy" in verdict:
        text += f", read as the class asked for {verdict['class_accuracy']:.0%}"
    return text


def run_one(spec: str, train: ImageDataset, val: ImageDataset, args, space: FeatureSpace | None = None) -> dict:
    name, settings = parse_spec(spec)
    family = registry.get(name)
    recipe = registry.default_settings(name, args.size, TrainSettings())  # the family's own batch size
    batch_size = int(settings.pop("batch_size", recipe.batch_size))
    config = family.config_class()
    if family.preset is not None:
        config = family.preset(config, args.size)
    config = replace_checked(config, **settings)
    torch.manual_seed(0)
    data = DataSpec(train.size, train.channels, train.num_classes, tuple(train.class_names))
    engine = family.engine_class(config, data)
    stream = batches(train.images, np.asarray(train.labels, np.int64), batch_size, np.random.default_rng(0))
    clock = time.process_time if args.clock == "cpu" else time.perf_counter

    def val_batches():
        for i in range(0, len(val), 256):
            yield Batch(torch.from_numpy(val.images[i:i + 256]).permute(0, 3, 1, 2).contiguous(),
                        torch.from_numpy(np.asarray(val.labels[i:i + 256], np.int64)))

    # held-out bits/dim at each mark of training time; validation itself is not counted as training
    marks = sorted(m for m in args.marks if m < args.seconds)
    start, wall0, cpu0 = clock(), time.perf_counter(), time.process_time()
    paused, steps, curve, at_marks = 0.0, 0, [], []
    next_report = args.seconds / 4
    while clock() - start - paused < args.seconds:
        losses = engine.train_step(next(stream))
        steps += 1
        trained = clock() - start - paused
        if trained >= next_report:
            curve.append((steps, round(losses["bits_per_dim"], 3)))
            next_report += args.seconds / 4
        if marks and trained >= marks[0]:
            t = clock()
            at_marks.append((marks.pop(0), steps, round(engine.validate(val_batches())["bits_per_dim"], 3)))
            print(f"  {spec}: {at_marks[-1][0]:g} s, step {steps}: held-out {at_marks[-1][2]:.3f} bits/dim", flush=True)
            save_grids(engine, spec, f"_at{at_marks[-1][0]:g}s", args)
            paused += clock() - t
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0

    bpd = engine.validate(val_batches())["bits_per_dim"]
    sample_s = save_grids(engine, spec, "", args)
    verdicts = judge_samples(engine, space, train.images, args) if space is not None else []
    return {"verdicts": verdicts, "spec": spec, "params": engine.parameter_count(), "batch": batch_size, "steps": steps,
            "wall_s": wall, "cpu_s": cpu, "val_bpd": bpd, "sample_s": sample_s, "curve": curve, "marks": at_marks,
            "config": to_dict(config)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("families", nargs="*", default=["realnvp", "glow", "pixelcnn"])
    ap.add_argument("--seconds", type=float, default=180.0, help="training time per family")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    ap.add_argument("--size", type=int, default=28)
    ap.add_argument("--copies", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--samples", type=int, default=40)
    ap.add_argument("--out", default="", help="folder for sample grids")
    ap.add_argument("--temperatures", type=lambda t: [float(v) for v in t.split(",") if v], default=[],
                    help="sampling temperatures for the grids, e.g. 1,0.7 (default: the recipe's own)")
    ap.add_argument("--marks", type=lambda t: [float(v) for v in t.split(",") if v], default=[],
                    help="also print held-out bits/dim after this much training time, e.g. 60,120,300")
    ap.add_argument("--judge", type=int, default=0, metavar="N",
                    help="judge N samples per temperature with a classifier of the digits (see above)")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes and a second or two of work: checks the script still runs (the suite runs it)")
    args = ap.parse_args(argv)
    if args.smoke:
        args.seconds, args.size, args.copies, args.samples, args.clock = 1.0, 12, 1, 2, "wall"
        args.families = args.families[:1] if args.families else ["realnvp"]
    torch.set_num_threads(args.threads)
    images, labels = digit_images(args.size, args.copies)
    data = ImageDataset(images[..., None], labels, [str(d) for d in range(10)], sources=["<digits>"])
    train, val = data.split(0.1, seed=0)
    print(f"digits {args.size}px x{len(train)} train / {len(val)} held out; {args.seconds:g} {args.clock} s per "
          f"family, {args.threads} thread(s); uniform baseline 8.000 bits/dim")
    space = None
    if args.judge:
        space = FeatureSpace.fit(train.images, np.asarray(train.labels), epochs=10)
        n = min(args.judge, len(val))  # Fréchet distances shrink with more images: compare like with like
        real = judge(space, val.images[:n], np.asarray(val.labels[:n]), train.images)
        print(f"judge: {n} held-out real digits: {describe(real)}")
    print(f"{'family':34s} {'params':>8s} {'steps':>6s} {'wall s':>7s} {'cpu s':>7s} {'val bpd':>8s} "
          f"{'sample s':>8s}  train bpd curve (step, bpd)")
    for spec in args.families:
        r = run_one(spec, train, val, args, space)
        print(f"{r['spec']:34s} {r['params']:8d} {r['steps']:6d} {r['wall_s']:7.1f} {r['cpu_s']:7.1f} "
              f"{r['val_bpd']:8.3f} {r['sample_s']:8.1f}  {r['curve']}", flush=True)
        if r["marks"]:
            print(f"{'':34s} held-out bits/dim at (s, step, bpd): {r['marks']}", flush=True)
        for temperature, verdict in r["verdicts"]:
            t = "recipe's" if temperature is None else f"{temperature:g}"
            print(f"{'':34s} {args.judge} samples at temperature {t}: {describe(verdict)}", flush=True)


if __name__ == "__main__":
    from benchmarks._results import record_run  # its figures go to benchmarks/results/flows_pixelcnn.json
    sys.exit(record_run("flows_pixelcnn", main))
