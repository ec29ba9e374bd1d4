"""Measure the tools (engines/tools) on digits: inpainting, denoising, super-resolution, anomaly
scoring and synthetic data, per family, against simple baselines.

    nice -n 5 python benchmarks/tools_digits.py --seconds 90 --out /tmp/toolbench      # the README table
    python benchmarks/tools_digits.py --smoke                                            # seconds: does it run

Data: scikit-learn's digits at 16 px (engines/data/toy.py), 10% held out exactly as training holds
it out. Each family trains for --seconds of wall-clock time with its recipe; the held-out digits
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
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engines.cli import main as cli  # noqa: E402

FAMILIES = ("ddpm", "vae", "realnvp", "pixelcnn", "ae")
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
    from benchmarks._results import Results
    rec = Results("tools_digits", seeds=[0], smoke=args.smoke, argv=None if argv is None else [__file__, *argv])
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch
    torch.set_num_threads(1)

    from engines.data import load_images
    from engines.data.toy import write_digit_folder
    from engines.quality import FeatureSpace
    from engines.tools import baselines as bl
    from engines.tools import denoise as dn, inpaint as ip, score as sc, synthesize as sy, upscale as up
    from engines.tools.common import bicubic_upscale, psnr
    from engines.train.restore import load_engine

    size = args.size
    n = 10 if args.smoke else args.n
    lat_steps = 5 if args.smoke else args.steps
    root = Path(args.out or tempfile.mkdtemp(prefix="toolbench_"))
    root.mkdir(parents=True, exist_ok=True)
    stale = [s for s in args.families if (root / _run_name(s) / "run.json").exists()]
    if stale and not args.reuse:  # never measure an earlier run silently as if it were trained now
        p.error(f"{root} already holds runs for {', '.join(stale)}; choose a new --out, or pass --reuse "
                f"to measure those runs again")
    data = root / "digits"
    if not data.exists():
        write_digit_folder(data, size=size)
    ds = load_images([str(data)], size=size, channels=1)
    train_ds, held = ds.split(0.1, seed=0)
    test_x, test_y = np.asarray(held.images)[:n], held.labels[:n]
    train_x, train_y = np.asarray(train_ds.images), train_ds.labels
    clf = FeatureSpace.fit(train_x, train_y, epochs=2 if args.smoke else 5)
    acc = lambda imgs: float((clf.predict(imgs) == test_y[:len(imgs)]).mean())  # noqa: E731
    results: dict = {"setup": {"size": size, "test_images": int(len(test_x)), "seconds": args.seconds,
                               "sigma": args.sigma, "smoke": args.smoke, "classifier_on_clean": acc(test_x)}}
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
        kept = {k: dict(v, earlier_call=True) for k, v in earlier.items()
                if k not in ("setup", "baselines") and k not in args.families}
        if kept:
            print(f"kept from an earlier call into {root}: {', '.join(kept)} (marked earlier_call)", flush=True)
        results.update(kept)
    for spec in args.families:
        fam, _, extra = spec.partition(":")   # "ddpm:batch_size=16,lr=2e-3": settings on top of the recipe
        sets = [kv for kv in extra.split(",") if kv]
        run = root / _run_name(spec)
        reused = (run / "run.json").exists()
        if reused:
            print(f"{spec}: measuring the run already in {run} (--reuse)", flush=True)
        else:
            t0 = time.time()
            argv = ["train", "--family", fam, "--data", str(data), "--out", str(run), "--size", str(size),
                    "--quiet", "--set", "sample_every=0"]
            argv += ["--steps", "3"] if args.smoke else ["--steps", "1000000", "--time", f"{args.seconds:g}s"]
            for kv in sets:
                argv += ["--set", kv]
            if cli(argv) != 0:
                print(f"{fam}: training failed", file=sys.stderr)
                continue
            print(f"{fam}: trained in {time.time() - t0:.0f}s", flush=True)
        engine, record = load_engine(run)
        r: dict = {"step": record["checkpoint_step"], "reused_run": reused}
        t0 = time.time()
        if fam in TOOLS_OF["inpaint"]:
            res = ip.inpaint(engine, test_x, hole, steps=lat_steps if fam not in ("ddpm",) else None)
            out = res.images[:, 0]
            r["inpaint"] = {"method": res.method, "psnr_hole": psnr(out, test_x, np.broadcast_to(hole, test_x.shape[:3])),
                            "accuracy": acc(out)}
        if fam in TOOLS_OF["denoise"]:
            res = dn.denoise(engine, noisy, steps=lat_steps if fam not in ("ddpm",) else None)
            r["denoise"] = {"method": res.method, "psnr": psnr(res.images, test_x), "accuracy": acc(res.images),
                            "sigma_estimated_median": float(np.median(res.sigmas))}
        if fam in TOOLS_OF["upscale"]:
            res = up.upscale(engine, small, steps=lat_steps if fam not in ("ddpm",) else None)
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
            r["synthesize"] = cas
        r["tool_seconds"] = round(time.time() - t0, 1)
        results[spec] = r
        print(spec, json.dumps(r, indent=1), flush=True)
        (root / "results.json").write_text(json.dumps(results, indent=1))
    print(table(results))
    print(f"results: {root / 'results.json'}")
    rec.save(results, settings={k: v for k, v in vars(args).items() if k != "out"})
    return 0


def _run_name(spec: str) -> str:
    return "run_" + spec.replace(":", "_").replace(",", "_").replace("=", "-")


def table(results: dict) -> str:
    b = results["baselines"]
    f = lambda v: "–" if v is None else f"{v:.2f}"  # noqa: E731
    lines = ["| family (steps) | inpaint PSNR / acc | denoise PSNR / acc | upscale PSNR / acc | AUROC letters (raw → corrected) | AUROC inverted (raw → corrected) | CAS (real) |",
             "|---|---|---|---|---|---|---|",
             f"| baseline | mean fill {f(b['inpaint_mean_fill']['psnr_hole'])} / {f(b['inpaint_mean_fill']['accuracy'])} | "
             f"noisy {f(b['denoise_noisy']['psnr'])} / {f(b['denoise_noisy']['accuracy'])}, median {f(b['denoise_median3']['psnr'])} / {f(b['denoise_median3']['accuracy'])} | "
             f"bicubic {f(b['upscale_bicubic']['psnr'])} / {f(b['upscale_bicubic']['accuracy'])} | | | |"]
    for fam, r in results.items():
        if fam in ("setup", "baselines"):
            continue
        cell = lambda k, a="psnr": f"{f(r[k][a])} / {f(r[k]['accuracy'])}" if k in r else "–"  # noqa: E731
        s = r.get("score", {})

        def auroc(name):
            raw = s.get("raw", {}).get(name)
            cor = s.get("corrected", {}).get(name)
            return f"{f(raw)} → {f(cor)}" if cor is not None else f(raw)
        syn = r.get("synthesize") or {}
        cas = f"{f(syn.get('cas'))} ({f(syn.get('real_baseline'))})" if syn else "–"
        mark = " (earlier call)" if r.get("earlier_call") else (" (reused run)" if r.get("reused_run") else "")
        lines.append(f"| {fam}{mark} ({r['step']}) | {cell('inpaint', 'psnr_hole')} | {cell('denoise')} | {cell('upscale')} | "
                     f"{auroc('letters')} | {auroc('inverted digits')} | {cas} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
