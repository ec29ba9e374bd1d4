"""Measure the tools (engines/tools) on digits: inpainting, denoising, super-resolution, anomaly
scoring and synthetic data, per family, against simple baselines.

    nice -n 10 python benchmarks/tools_digits.py ae vae ddpm:batch_size=16 pixelcnn --size 28 --cpu-seconds 150 \
        --seeds 0,1 --out /tmp/toolbench28 --variant 28px                                # the README's 28 px table
    nice -n 5 python benchmarks/tools_digits.py --seconds 90 --out /tmp/toolbench      # the older 16 px table
    python benchmarks/tools_digits.py --smoke                                            # seconds: does it run

Data: scikit-learn's digits at 16 px (engines/data/toy.py), 10% held out exactly as training holds
it out. Each family trains for --seconds of wall-clock time, or --cpu-seconds of this process's CPU
time (time.process_time, so other load on a shared machine does not shorten the budget; the run is
stopped through its control file), with its recipe, once per seed of --seeds; the held-out digits
(--n of them) are the test set. A small classifier of the training digits (engines/quality.py)
reads the results.
  * inpainting: the bottom half of each digit is removed (after the known pixels in raster order, so
    PixelCNN samples it exactly); PSNR inside the hole and the classifier's accuracy, against filling
    the hole with the mean training image.
  * denoising: Gaussian noise of sigma --sigma (0-255 scale); PSNR of the noisy input, a 3x3 median
    filter and the model (noise level estimated, as the CLI does by default).
  * super-resolution: 8 px (area-downsampled) -> 16 px; PSNR and accuracy of bicubic and of the model.
  * anomaly scoring: AUROC of out-of-distribution images (capital letters drawn with Pillow's
    font, and inverted digits) against the held-out digits, with and without the complexity
    correction where the score is bits/dim.
  * synthetic data: a classifier trained only on --per-class samples per class, tested on the held-out
    digits (classification accuracy score), against the same classifier trained on as many real digits.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engines.cli import main as cli  # noqa: E402

FAMILIES = ("ddpm", "vae", "realnvp", "pixelcnn", "ae")
SMOKE_FAMILIES = ("ddpm", "ae", "pixelcnn")
TOOLS_OF = {"inpaint": ("ddpm", "vae", "realnvp", "pixelcnn", "ae"), "denoise": ("ddpm", "vae", "realnvp", "ae"),
            "upscale": ("ddpm", "vae", "realnvp", "ae"), "score": FAMILIES, "synthesize": ("ddpm", "pixelcnn")}


def letters(n: int, size: int, seed: int = 0) -> np.ndarray:
    """White capital letters on black, drawn with Pillow's default font, jittered: (n, size, size, 1)."""
    from PIL import Image, ImageDraw, ImageFont

    rng = np.random.default_rng(seed)
    try:
        font = ImageFont.load_default(size=int(size * 0.8))
    except TypeError:  # old Pillow: the fixed bitmap font
        font = ImageFont.load_default()
    out = np.zeros((n, size, size, 1), np.uint8)
    for i in range(n):
        big = Image.new("L", (size * 2, size * 2), 0)
        d = ImageDraw.Draw(big)
        ch = chr(ord("A") + int(rng.integers(26)))
        d.text((size * 0.5 + rng.integers(-2, 3), size * 0.3 + rng.integers(-2, 3)), ch, fill=255, font=font,
               stroke_width=1, stroke_fill=255)
        out[i, ..., 0] = np.asarray(big.resize((size, size), Image.Resampling.BILINEAR))
    return out


def median3(images: np.ndarray) -> np.ndarray:
    from PIL import Image, ImageFilter

    return np.stack([np.asarray(Image.fromarray(im[..., 0]).filter(ImageFilter.MedianFilter(3)))[..., None]
                     for im in images])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("families", nargs="*", default=list(FAMILIES),
                   help="families to measure, each optionally with settings: ddpm:batch_size=16")
    p.add_argument("--seconds", type=float, default=90.0, help="wall-clock training time per family")
    p.add_argument("--cpu-seconds", type=float, default=None,
                   help="train each family for this much CPU time of this process instead (time.process_time)")
    p.add_argument("--seeds", default="0", help="training seeds, comma-separated: each family is trained once per seed")
    p.add_argument("--variant", default=None, help="results file benchmarks/results/tools_digits-VARIANT.json")
    p.add_argument("--n", type=int, default=100, help="held-out digits per measure")
    p.add_argument("--sigma", type=float, default=40.0)
    p.add_argument("--per-class", type=int, default=30, help="synthetic images per class")
    p.add_argument("--steps", type=int, default=150, help="latent optimisation steps")
    p.add_argument("--out", default=None, help="folder for the runs and results.json (default: a temporary one)")
    p.add_argument("--reuse", action="store_true",
                   help="measure runs already in --out again instead of refusing (said per run and recorded)")
    p.add_argument("--smoke", action="store_true", help="a few training steps and images: checks the script runs")
    p.add_argument("--size", type=int, default=16, help="digit size in pixels (the issue's goals are at 28)")
    p.add_argument("--baselines-only", action="store_true",
                   help="measure the non-learned baselines (engines/tools/baselines.py) only; train nothing")
    args = p.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks._results import Results, scratch_folder
    seeds = [int(v) for v in str(args.seeds).split(",") if v.strip()]
    if args.smoke and args.families == list(FAMILIES):
        args.families = list(SMOKE_FAMILIES)   # one family per kind of pipeline keeps the smoke short
    rec = Results("tools_digits", seeds=seeds, smoke=args.smoke, argv=None if argv is None else [__file__, *argv])
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch
    torch.set_num_threads(1)

    from engines.data import load_images
    from engines.data.toy import write_digit_folder
    from engines.quality import FeatureSpace
    from engines.tools import baselines as bl
    from engines.tools import denoise as dn, score as sc, upscale as up
    from engines.tools.common import bicubic_upscale, psnr

    size = args.size
    n = 10 if args.smoke else args.n
    lat_steps = 5 if args.smoke else args.steps
    root = Path(args.out or (scratch_folder("toolbench-smoke-") if args.smoke else tempfile.mkdtemp(prefix="toolbench_")))
    root.mkdir(parents=True, exist_ok=True)
    stale = [s for s in args.families if any((root / _run_name(s, seed) / "run.json").exists() for seed in seeds)]
    if stale and not args.reuse:  # never measure an earlier run silently as if it were trained now
        p.error(f"{root} already holds runs for {', '.join(stale)}; choose a new --out, or pass --reuse "
                f"to measure those runs again")
    data = root / f"digits-{size}px"   # one folder per size: an earlier call's digits at another size are not these
    if not data.exists():
        write_digit_folder(data, size=size)
    ds = load_images([str(data)], size=size, channels=1)
    train_ds, held = ds.split(0.1, seed=0)
    test_x, test_y = np.asarray(held.images)[:n], held.labels[:n]
    train_x, train_y = np.asarray(train_ds.images), train_ds.labels
    clf = FeatureSpace.fit(train_x, train_y, epochs=2 if args.smoke else 5)
    acc = lambda imgs: float((clf.predict(imgs) == test_y[:len(imgs)]).mean())  # noqa: E731
    results: dict = {"setup": {"size": size, "test_images": int(len(test_x)), "seconds": args.seconds,
                               "cpu_seconds": args.cpu_seconds, "seeds": seeds, "sigma": args.sigma, "smoke": args.smoke, "classifier_on_clean": acc(test_x)}}
    mean_img = np.round(train_x.astype(np.float64).mean(0)).astype(np.uint8)

    # baselines
    hole = np.zeros((size, size), bool)
    hole[size // 2:] = True
    mean_fill = np.where(hole[None, ..., None], mean_img[None], test_x)
    noisy = dn.add_noise(test_x, args.sigma, seed=1)
    small = up.shrink(test_x, size // 2)
    bic = np.stack([bicubic_upscale(im, size) for im in small])
    ood = {"letters": letters(n, size), "inverted digits": 255 - test_x}
    nearest = bl.nearest_fill(test_x, hole)
    filt_name, filtered, _ = bl.best_filter(noisy, test_x, args.sigma)
    plain = bl.complexity(test_x)
    results["baselines"] = {
        "inpaint_masked": {"accuracy": acc(np.where(hole[None, ..., None], 0, test_x).astype(np.uint8))},
        "inpaint_nearest_fill": {"psnr_hole": psnr(nearest, test_x, np.broadcast_to(hole, test_x.shape[:3])),
                                 "accuracy": acc(nearest)},
        "denoise_best_filter": {"filter": filt_name, "psnr": psnr(filtered, test_x), "accuracy": acc(filtered)},
        "score_complexity": {name: sc.auroc(plain, bl.complexity(imgs)) for name, imgs in ood.items()},
        "inpaint_mean_fill": {"psnr_hole": psnr(mean_fill, test_x, np.broadcast_to(hole, test_x.shape[:3])),
                              "accuracy": acc(mean_fill)},
        "denoise_noisy": {"psnr": psnr(noisy, test_x), "accuracy": acc(noisy)},
        "denoise_median3": {"psnr": psnr(median3(noisy), test_x), "accuracy": acc(median3(noisy))},
        "upscale_bicubic": {"psnr": psnr(bic, test_x), "accuracy": acc(bic)},
    }
    print(json.dumps(results["baselines"], indent=1), flush=True)
    if args.baselines_only:
        rec.save(results, settings={k: v for k, v in vars(args).items() if k != "out"}, variant="baselines" if size == 16 else f"baselines-{size}px")
        return 0
    saved = root / "results.json"
    if saved.exists():  # other families measured by an earlier call into the same --out stay in the table, marked
        earlier = json.loads(saved.read_text())
        same = ("size", "test_images", "sigma", "smoke")   # what makes two calls' figures comparable
        differs = [k for k in same if (earlier.get("setup") or {}).get(k) != results["setup"][k]]
        kept = {k: dict(v, earlier_call=True) for k, v in earlier.items()
                if k not in ("setup", "baselines") and k not in args.families and not differs}
        if differs:
            print(f"not kept from an earlier call into {root}: it measured with other {', '.join(differs)}",
                  flush=True)
        if kept:
            print(f"kept from an earlier call into {root}: {', '.join(kept)} (marked earlier_call)", flush=True)
        results.update(kept)
    measured: dict = {}
    for seed in seeds:   # seed-major: a cut-short call keeps every family's first seed
        for spec in args.families:
            r = measure(spec, seed, root, data, size, args, lat_steps, test_x, acc, hole, noisy, small, ood, train_x,
                        train_y, held)
            if r is None:
                continue
            print(spec, f"seed {seed}", json.dumps(r, indent=1), flush=True)
            per_seed = measured.setdefault(spec, [])
            per_seed.append(r)
            results[spec] = dict(per_seed[0], seeds=per_seed, mean=_mean(per_seed), sd=_sd(per_seed),
                                 goals=goals(_mean(per_seed), results["baselines"]))
            (root / "results.json").write_text(json.dumps(results, indent=1))
            print(spec, "goals", json.dumps(results[spec]["goals"]), flush=True)
            if not args.smoke:  # the committed figures grow with every run measured
                rec.save(results, settings={k: v for k, v in vars(args).items() if k != "out"}, variant=args.variant)
    print(table(results))
    print(f"results: {root / 'results.json'}")
    rec.save(results, settings={k: v for k, v in vars(args).items() if k != "out"}, variant=args.variant)
    return 0


def measure(spec, seed, root, data, size, args, lat_steps, test_x, acc, hole, noisy, small, ood, train_x, train_y,
            held) -> dict | None:
    """Train (or reuse) one run of `spec` with `seed` and measure every tool it has."""
    from engines.tools import denoise as dn, inpaint as ip, score as sc, synthesize as sy, upscale as up
    from engines.tools.common import psnr
    from engines.train.restore import load_engine

    fam, _, extra = spec.partition(":")   # "ddpm:batch_size=16,lr=2e-3": settings on top of the recipe
    sets = [kv for kv in extra.split(",") if kv]
    run = root / _run_name(spec, seed)
    reused = (run / "run.json").exists()
    cpu = None
    if reused:
        trained_at = (json.loads((run / "run.json").read_text()).get("data_spec") or {}).get("size")
        if trained_at != size:   # never measure a run of another size as if it were this one
            raise SystemExit(f"{run} was trained at {trained_at} px, not {size}: choose a new --out")
        print(f"{spec}: measuring the run already in {run} (--reuse)", flush=True)
    else:
        t0, c0 = time.time(), time.process_time()
        argv = ["train", "--family", fam, "--data", str(data), "--out", str(run), "--size", str(size),
                "--quiet", "--seed", str(seed), "--set", "sample_every=0", "--set", "n_samples=1"]
        stopper = None
        if args.smoke:
            argv += ["--steps", "3"]
        elif args.cpu_seconds:
            control = root / f"control_{_run_name(spec, seed)}.txt"
            control.write_text("")
            argv += ["--steps", "1000000", "--control", str(control)]
            stopper = CpuStopper(control, args.cpu_seconds)
            stopper.start()
        else:
            argv += ["--steps", "1000000", "--time", f"{args.seconds:g}s"]
        for kv in sets:
            argv += ["--set", kv]
        try:
            status = cli(argv)
        finally:
            if stopper is not None:
                stopper.done.set()
        if status != 0:
            print(f"{fam}: training failed", file=sys.stderr)
            return None
        cpu = round(time.process_time() - c0, 1)
        print(f"{fam} seed {seed}: trained in {time.time() - t0:.0f}s wall, {cpu:.0f} CPU-s", flush=True)
    engine, record = load_engine(run)
    r: dict = {"seed": seed, "step": record["checkpoint_step"], "train_cpu_s": cpu, "reused_run": reused}
    t0, c0 = time.time(), time.process_time()
    if args.smoke:  # the fewest sampler steps the family takes: the smoke checks the pipelines run, not quality
        _fewest_steps(engine)
    diffusion_steps = 2 if args.smoke else None
    if fam in TOOLS_OF["inpaint"]:
        res = ip.inpaint(engine, test_x, hole, steps=lat_steps if fam not in ("ddpm",) else diffusion_steps)
        out = res.images[:, 0]
        r["inpaint"] = {"method": res.method, "psnr_hole": psnr(out, test_x, np.broadcast_to(hole, test_x.shape[:3])),
                        "accuracy": acc(out)}
    if fam in TOOLS_OF["denoise"]:
        res = dn.denoise(engine, noisy, sigma=args.sigma, steps=lat_steps if fam not in ("ddpm",) else diffusion_steps)
        r["denoise"] = {"method": res.method, "psnr": psnr(res.images, test_x), "accuracy": acc(res.images)}
    if fam in TOOLS_OF["upscale"]:
        res = up.upscale(engine, small, steps=lat_steps if fam not in ("ddpm",) else diffusion_steps)
        r["upscale"] = {"method": res.method, "psnr": psnr(res.images, test_x), "accuracy": acc(res.images)}
    if fam in TOOLS_OF["score"]:
        r["score"] = {}
        for corrected in (False, True):
            base = sc.score(engine, test_x, complexity=corrected, projection_steps=lat_steps)
            if corrected and not base.corrected:
                break  # not a bits/dim score: nothing to correct
            key = "corrected" if corrected else "raw"
            r["score"][key] = {"method": base.method}
            for name, imgs in ood.items():
                o = sc.score(engine, imgs, complexity=corrected, projection_steps=lat_steps)
                r["score"][key][name] = sc.auroc(base.scores, o.scores)
    if fam in TOOLS_OF["synthesize"] and engine.conditional:
        syn = sy.generate(engine, 3 if args.smoke else args.per_class, seed=0)
        cas = sy.classification_accuracy_score(syn.images, syn.labels, train_x, train_y, np.asarray(held.images),
                                               held.labels, epochs=2 if args.smoke else 5)
        r["synthesize"] = dict(cas, ratio=cas["cas"] / max(cas["real_baseline"], 1e-9))
    r["tool_seconds"] = round(time.time() - t0, 1)
    r["tool_cpu_s"] = round(time.process_time() - c0, 1)
    return r


def _fewest_steps(engine) -> None:
    from dataclasses import fields, is_dataclass

    options = engine.sampling_options()
    if is_dataclass(options) and "steps" in {f.name for f in fields(options)}:
        engine.set_sampling_options(steps=2)


class CpuStopper(threading.Thread):
    """Writes `stop` into a run's control file once this process has used `seconds` more CPU time."""

    def __init__(self, control: Path, seconds: float):
        super().__init__(daemon=True)
        self.control, self.seconds, self.start_cpu = control, float(seconds), time.process_time()
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.5):
            if time.process_time() - self.start_cpu >= self.seconds:
                with open(self.control, "a") as f:
                    f.write("stop\n")
                return


def _numbers(r: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in r.items():
        if k in ("seeds", "mean", "sd", "goals", "seed"):
            continue
        if isinstance(v, dict):
            out.update(_numbers(v, f"{prefix}{k}."))
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and v is not None:
            out[prefix + k] = float(v)
    return out


def _mean(rows: list[dict]) -> dict:
    flat = [_numbers(r) for r in rows]
    keys = [k for k in flat[0] if all(k in f for f in flat)]
    return {k: float(np.mean([f[k] for f in flat])) for k in keys}


def _sd(rows: list[dict]) -> dict:
    flat = [_numbers(r) for r in rows]
    keys = [k for k in flat[0] if all(k in f for f in flat)]
    return {k: float(np.std([f[k] for f in flat], ddof=1)) if len(flat) > 1 else 0.0 for k in keys}


def goals(mean: dict, b: dict) -> dict:
    """The issue's goals at 28 px, each (value, bar, met) where the family has the tool."""
    out = {}

    def add(name, value, bar):
        if value is not None:
            out[name] = {"value": value, "bar": bar, "met": bool(value >= bar)}
    add("inpaint accuracy >= masked + 0.2", mean.get("inpaint.accuracy"), b["inpaint_masked"]["accuracy"] + 0.2)
    add("denoise PSNR >= best filter + 1 dB", mean.get("denoise.psnr"), b["denoise_best_filter"]["psnr"] + 1.0)
    add("upscale PSNR >= bicubic + 1 dB", mean.get("upscale.psnr"), b["upscale_bicubic"]["psnr"] + 1.0)
    letters = mean.get("score.corrected.letters", mean.get("score.raw.letters"))
    add("AUROC letters vs digits >= 0.9", letters, 0.9)
    cas = mean.get("synthesize.ratio")
    add("CAS >= 0.8 x real", cas, 0.8)
    return out

    return 0


def _run_name(spec: str, seed: int = 0) -> str:
    name = "run_" + spec.replace(":", "_").replace(",", "_").replace("=", "-")
    return name if seed == 0 else f"{name}_seed{seed}"


def table(results: dict) -> str:
    """Markdown: per family the mean over seeds (+- sd when there are several), beside the baselines."""
    b = results["baselines"]
    f = lambda v: "–" if v is None else f"{v:.2f}"  # noqa: E731
    lines = ["| family (steps) | inpaint PSNR / acc | denoise PSNR / acc | upscale PSNR / acc | AUROC letters (raw → corrected) | AUROC inverted (raw → corrected) | CAS (real) |",
             "|---|---|---|---|---|---|---|",
             f"| baseline | mean fill {f(b['inpaint_mean_fill']['psnr_hole'])} / {f(b['inpaint_mean_fill']['accuracy'])}; "
             f"hole left black – / {f(b['inpaint_masked']['accuracy'])} | "
             f"noisy {f(b['denoise_noisy']['psnr'])} / {f(b['denoise_noisy']['accuracy'])}, best filter "
             f"{f(b['denoise_best_filter']['psnr'])} / {f(b['denoise_best_filter']['accuracy'])} | "
             f"bicubic {f(b['upscale_bicubic']['psnr'])} / {f(b['upscale_bicubic']['accuracy'])} | "
             f"complexity {f(b['score_complexity']['letters'])} | complexity {f(b['score_complexity']['inverted digits'])} | |"]
    for fam, r in results.items():
        if fam in ("setup", "baselines") or "mean" not in r:
            continue
        m, sd = r["mean"], r["sd"]
        many = len(r.get("seeds", [])) > 1

        def v(key):
            if key not in m:
                return None
            return f"{m[key]:.2f} ± {sd.get(key, 0):.2f}" if many else f"{m[key]:.2f}"

        def cell(tool, a="psnr"):
            return f"{v(f'{tool}.{a}')} / {v(f'{tool}.accuracy')}" if f"{tool}.accuracy" in m else "–"

        def auroc(name):
            raw, cor = v(f"score.raw.{name}"), v(f"score.corrected.{name}")
            return f"{raw} → {cor}" if cor is not None else (raw or "–")
        cas = f"{v('synthesize.cas')} ({v('synthesize.real_baseline')})" if "synthesize.cas" in m else "–"
        mark = " (earlier call)" if r.get("earlier_call") else (" (reused run)" if r.get("reused_run") else "")
        steps = "/".join(str(x["step"]) for x in r.get("seeds", [r]))
        lines.append(f"| {fam}{mark} ({steps}) | {cell('inpaint', 'psnr_hole')} | {cell('denoise')} | {cell('upscale')} | "
                     f"{auroc('letters')} | {auroc('inverted digits')} | {cas} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
