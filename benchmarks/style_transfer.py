"""Style transfer on images made here: does the content survive, does the style arrive, how fast?

    .venv/bin/python benchmarks/style_transfer.py [--smoke] [--images 8] [--size 32]
        [--opt-steps 80] [--ff-steps 300] [--features random,classifier,ae-run,vgg19-layout]
        [--variants "0,0;0.5,0;1,0;1,1"] [--figure assets/style-grid.png]

Content: sklearn's 8x8 digits enlarged to --size px (grey). Style: the built-in colourful texture
(engines/style/texture.py). For each feature network and both modes (Gatys optimisation, the
feed-forward `style` family) it reports, over --images held-out digits:
  * digit accuracy: a digit classifier (engines.quality, trained on other digits, never used as a
    feature network) reading the stylised images, beside its accuracy on the originals;
  * Gram distance to the style image in an independent feature space (random features with another
    seed than any stylisation uses): |G - G_style| / (|G| + |G_style|), 0..1, averaged over its first
    three scales; before = the content images themselves, after = stylised;
  * CPU seconds per image (optimisation: the whole optimisation; feed-forward: one pass, after training,
    whose time is listed separately);
  * texture in flat regions: flat shapes on a flat ground (--flat-size px) stylised; the mean absolute
    Laplacian of the result's luminance inside the ground, over the style image's own (0: the ground
    stayed flat, only recoloured; 1: as busy as the style).
--variants compares starting points and losses with random features: "INIT_NOISE,MOMENT_WEIGHT"
pairs (StyleOptions.init_noise: style-coloured noise added to the start; moment_weight: feature
means and spreads matched beside the Grams). The rows for other features use the defaults.
The time per image at 256 px (the photo, default settings) is measured over --time-steps steps and
scaled to the default step count.
Feature networks: random (seed 0); classifier (conv layers of a digit classifier trained on a
separate split: "a classifier of the person's labelled folder"); ae-run (an AE genstudio run trained
here for --ae-steps); vgg19-layout (a VGG-19 safetensors file with *random* weights, written here: it
exercises the file path and architecture only; real VGG-19 weights are not available offline).
--figure writes a content x style grid (optimisation with random features) for the README.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from engines import registry  # noqa: E402
from engines.config import replace_checked  # noqa: E402
from engines.data import ImageDataset  # noqa: E402
from engines.quality import FeatureSpace  # noqa: E402
from benchmarks._results import Results  # noqa: E402
from engines.style import ModuleFeatures, RandomFeatures, StyleOptions, VGG19Features, stylize  # noqa: E402
from engines.style.gatys import fit_longest, gram  # noqa: E402
from engines.style.texture import mosaic, texture  # noqa: E402
from engines.train.loop import Trainer, TrainSettings  # noqa: E402

JUDGE_SEED = 424242


def digits(size: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    imgs = np.stack([np.asarray(Image.fromarray((im * 255 / 16).astype(np.uint8)).resize(
        (size, size), Image.Resampling.BICUBIC)) for im in d.images])[..., None]
    return imgs, d.target.astype(np.int64)


def gram_distance(judge: RandomFeatures, images: np.ndarray, style: np.ndarray) -> float:
    """Mean Gram distance of each image to the style image (style at the image's size), per layer
    |G - G_style| / (|G| + |G_style|) (Frobenius norms): 0 for the same statistics, 1 for an image
    with no response (a flat grey image scores 1, so washing out cannot pass for style)."""
    size = images.shape[1]
    s = torch.from_numpy(fit_longest(style, size).astype(np.float32)).permute(2, 0, 1)[None]
    with torch.no_grad():
        fs = judge(s)
        layers = [k for k in judge.style_layers[:3]]
        targets = {k: gram(fs[k]) for k in layers}
        out = []
        for img in images:
            rgb = np.repeat(img, 3, -1) if img.shape[-1] == 1 else img
            f = judge(torch.from_numpy(rgb.astype(np.float32) / 255).permute(2, 0, 1)[None])
            out.append(np.mean([float((gram(f[k]) - g).norm() / (gram(f[k]).norm() + g.norm()))
                                for k, g in targets.items()]))
    return float(np.mean(out))


def flat_shapes(size: int) -> tuple[np.ndarray, np.ndarray]:
    """A disc and a rectangle on a flat ground, RGB uint8, and the mask of the ground away from edges."""
    shapes = np.full((size, size, 3), 235, np.uint8)
    yy, xx = np.mgrid[0:size, 0:size]
    disc = ((yy - size * 0.35) ** 2 + (xx - size * 0.35) ** 2) < (size * 0.22) ** 2
    rect = (yy > size * 0.55) & (yy < size * 0.9) & (xx > size * 0.45) & (xx < size * 0.9)
    shapes[disc] = (40, 60, 160)
    shapes[rect] = (200, 60, 40)
    ground = ~(((yy - size * 0.35) ** 2 + (xx - size * 0.35) ** 2) < (size * 0.27) ** 2)
    ground &= ~((yy > size * 0.5) & (xx > size * 0.4))
    return shapes, ground


def busyness(rgb: np.ndarray) -> np.ndarray:
    """Per-pixel |Laplacian| of the luminance (0..1 scale), same size (edges replicated)."""
    g = np.pad(rgb.astype(np.float64).mean(-1) / 255.0, 1, mode="edge")
    return np.abs(4 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:])


def flat_texture(result: np.ndarray, ground: np.ndarray, style: np.ndarray) -> float:
    s = fit_longest(style, result.shape[0])
    return float(busyness(result)[ground].mean() / busyness((s * 255).round().astype(np.uint8)).mean())


def vgg_layout_file(path: Path) -> Path:
    from safetensors.torch import save_file

    from engines.style.features import _VGG_CONVS

    gen = torch.Generator().manual_seed(0)
    tensors = {}
    for idx, _n, cin, cout in _VGG_CONVS[:13]:
        tensors[f"features.{idx}.weight"] = torch.randn(cout, cin, 3, 3, generator=gen) * (2 / (9 * cin)) ** 0.5
        tensors[f"features.{idx}.bias"] = torch.zeros(cout)
    save_file(tensors, str(path))
    return path


def train_ae(images: np.ndarray, labels: np.ndarray, steps: int, out: Path) -> Path:
    data = ImageDataset(images, labels, [], sources=["digits"])
    config = replace_checked(registry.default_config("ae", images.shape[1]), width=16)
    settings = TrainSettings(steps=steps, batch_size=32, sample_every=0, checkpoint_every=0, val_fraction=0.0,
                             validate_every=0, monitor_every=0, log_every=max(1, steps))
    list(Trainer.new("ae", config, settings, data, out).run())
    return out


def train_style_family(images, labels, style_path: Path, features: str, steps: int,
                       style_weight: float) -> tuple[object, float]:
    """The `style` family as `genstudio train --family style --input style=STYLE` runs it (the style
    input arrives preprocessed like the data: a centre square at the training size)."""
    from engines.train.inputs import load_input

    data = ImageDataset(images, labels, [], sources=["digits"])
    fam = registry.get("style")
    config = replace_checked(fam.config_class(), features=features, style_weight=style_weight)
    settings = TrainSettings(steps=steps, batch_size=8, sample_every=0, checkpoint_every=0, val_fraction=0.0,
                             validate_every=0, monitor_every=0, log_every=max(1, steps))
    style = load_input(fam.engine_class.inputs[1], [str(style_path)], images.shape[1])
    trainer = Trainer.new("style", config, settings, data, None, inputs={"style": style},
                          input_paths={"style": [str(style_path)]})
    t0 = time.perf_counter()
    list(trainer.run())
    return trainer.engine, time.perf_counter() - t0


def figure(path: Path, size: int, steps: int) -> None:
    """Rows: content images; columns: style images (the first twice: as the previous default started,
    from the content alone, then with the defaults); cells: optimisation with random features."""
    from sklearn.datasets import load_sample_image

    imgs, _ = digits(size)
    photo = load_sample_image("china.jpg")
    shapes, _ = flat_shapes(size)
    contents = [np.repeat(imgs[3], 3, -1), photo, shapes]
    styles = [texture(192, 0), texture(192, 0), mosaic(192, 1), stripes(192)]
    starts = [0.0, None, None, None]           # init_noise; None: the default
    cell = size
    pad = 4
    canvas = np.full(((len(contents) + 1) * (cell + pad) + pad, (len(styles) + 1) * (cell + pad) + pad, 3), 255,
                     np.uint8)

    def put(r, c, img):
        sq = np.asarray(Image.fromarray(img).resize((cell, round(cell * img.shape[0] / img.shape[1]))
                                        if img.shape[1] >= img.shape[0] else
                                        (round(cell * img.shape[1] / img.shape[0]), cell)))
        y0, x0 = pad + r * (cell + pad), pad + c * (cell + pad)
        oy, ox = (cell - sq.shape[0]) // 2, (cell - sq.shape[1]) // 2
        canvas[y0 + oy:y0 + oy + sq.shape[0], x0 + ox:x0 + ox + sq.shape[1]] = sq[..., :3]

    features = RandomFeatures(0)
    for c, s in enumerate(styles):
        put(0, c + 1, s)
    for r, content in enumerate(contents):
        put(r + 1, 0, content)
        for c, (s, start) in enumerate(zip(styles, starts)):
            options = StyleOptions(size=size, steps=steps)
            if start is not None:
                options = dataclasses.replace(options, init_noise=start)
            t0 = time.perf_counter()
            out = stylize(content, s, options, features).image
            print(f"  figure cell {r},{c}: {time.perf_counter() - t0:.1f}s", flush=True)
            put(r + 1, c + 1, out)
    Image.fromarray(canvas).save(path)
    print(f"wrote {path}")


def stripes(size: int) -> np.ndarray:
    """Wavy black-and-cream stripes with red dots: a texture with one dominant scale and orientation."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    wave = np.sin(2 * np.pi * (9 * yy + 0.6 * np.sin(2 * np.pi * 2 * xx)))
    img = np.where(wave[..., None] > 0, np.array([0.95, 0.9, 0.75]), np.array([0.1, 0.1, 0.12]))
    dots = ((xx * 12) % 1 - 0.5) ** 2 + ((yy * 12 + 0.25) % 1 - 0.5) ** 2 < 0.04
    img[dots] = (0.85, 0.15, 0.1)
    return (img * 255).astype(np.uint8)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true", help="tiny settings: checks the script runs (numbers meaningless)")
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--opt-steps", type=int, default=80)
    ap.add_argument("--ff-steps", type=int, default=300)
    ap.add_argument("--ae-steps", type=int, default=300)
    ap.add_argument("--style-weight", type=float, default=0.1,
                    help="optimisation on the digits (the stylize default, 10, suits photos at 256 px; on 32 px "
                         "digits on black it paints the digit away)")
    ap.add_argument("--ff-style-weight", type=float, default=2.0, help="feed-forward (the family's default)")
    ap.add_argument("--features", default="random,classifier,ae-run,vgg19-layout")
    ap.add_argument("--ff-features", default="random,ae-run", help="feature choices for the feed-forward mode")
    ap.add_argument("--variants", default="0,0;0.5,0;1,0;1,1",
                    help="random-feature variants 'INIT_NOISE,MOMENT_WEIGHT;...' (semicolon-separated)")
    ap.add_argument("--flat-size", type=int, default=64, help="size of the flat shapes image")
    ap.add_argument("--flat-style-weight", type=float, default=10.0, help="style weight on the flat shapes")
    ap.add_argument("--time-size", type=int, default=256)
    ap.add_argument("--time-steps", type=int, default=20)
    ap.add_argument("--figure", help="also write the content x style grid PNG here")
    ap.add_argument("--figure-size", type=int, default=128)
    ap.add_argument("--figure-steps", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--results-variant", default=None,
                    help="write benchmarks/results/style_transfer-VARIANT.json (a side measurement) instead")
    args = ap.parse_args()
    if args.smoke:
        args.images, args.opt_steps, args.ff_steps, args.ae_steps = 2, 5, 5, 5
        args.figure_size, args.figure_steps, args.flat_size, args.time_size, args.time_steps = 32, 3, 32, 32, 2
        args.variants = "1,1"
    rec = Results("style_transfer", seeds=[0], smoke=args.smoke)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    imgs, labels = digits(args.size)
    epochs = 1 if args.smoke else 5
    judge_clf = FeatureSpace.fit(imgs[:900], labels[:900], epochs=epochs, seed=1)
    feature_clf = FeatureSpace.fit(imgs[900:1400], labels[900:1400], epochs=epochs, seed=2)
    test, test_y = imgs[1500:1500 + args.images], labels[1500:1500 + args.images]
    train, train_y = imgs[:1400], labels[:1400]
    style = texture(2 * args.size, 0)
    judge = RandomFeatures(JUDGE_SEED)
    base_acc = float((judge_clf.predict(test) == test_y).mean())
    base_gram = gram_distance(judge, test, style)
    shapes, ground = flat_shapes(args.flat_size)
    flat_style = texture(2 * args.flat_size, 0)
    defaults = StyleOptions()
    print(f"torch {torch.__version__}, {args.threads} thread(s), {args.size} px digits, {args.images} test images, "
          f"style weight {args.style_weight} (feed-forward {args.ff_style_weight}), {args.opt_steps} optimisation "
          f"steps, {args.ff_steps} training steps")
    print(f"originals: digit accuracy {base_acc:.2f}, Gram distance to the style {base_gram:.3f}")
    rows = []

    def optimisation_row(label, features, **changes):
        options = StyleOptions(size=args.size, steps=args.opt_steps, preview_every=10**4,
                               style_weight=args.style_weight, **changes)
        t0 = time.process_time()
        out = np.stack([stylize(x, style, options, features).image for x in test])
        per = (time.process_time() - t0) / len(test)
        flat_options = dataclasses.replace(options, size=args.flat_size, style_weight=args.flat_style_weight)
        flat = flat_texture(stylize(shapes, flat_style, flat_options, features).image, ground, flat_style)
        rows.append({"mode": "optimisation", "features": label,
                     "init_noise": options.init_noise, "moment_weight": options.moment_weight,
                     "digit_accuracy": float((judge_clf.predict(out) == test_y).mean()),
                     "gram_distance": gram_distance(judge, out, style), "flat_texture": flat,
                     "s_per_image": per, "training_s": 0.0})
        print(f"  optimisation / {label}: done ({per:.2f}s per image)", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        style_path = tmp / "style.png"
        Image.fromarray(style).save(style_path)
        sources: dict[str, object] = {}
        for name in args.features.split(","):
            if name == "random":
                sources[name] = ("random", lambda: RandomFeatures(0))
            elif name == "classifier":
                sources[name] = (None, lambda: ModuleFeatures.from_classifier(feature_clf))
            elif name == "ae-run":
                t0 = time.perf_counter()
                run = train_ae(train, train_y, args.ae_steps, tmp / "ae")
                print(f"ae run: {args.ae_steps} steps in {time.perf_counter() - t0:.0f}s")
                sources[name] = (str(run), lambda run=run: ModuleFeatures.from_run(run))
            elif name == "vgg19-layout":
                f = vgg_layout_file(tmp / "vgg19.safetensors")
                sources[name] = (str(f), lambda f=f: VGG19Features.from_file(f))
            elif name:
                raise SystemExit(f"unknown features {name}")
        if "random" in sources:
            for pair in filter(None, args.variants.split(";")):
                noise, moments = (float(v) for v in pair.split(","))
                optimisation_row(f"random (init noise {noise:g}, moments {moments:g})", RandomFeatures(0),
                                 init_noise=noise, moment_weight=moments)
        for name, (_spec, make) in sources.items():
            if name != "random":
                optimisation_row(name, make())
        for name in args.ff_features.split(","):
            spec = sources.get(name, (None,))[0]
            if spec is None:
                continue
            engine, train_s = train_style_family(train, train_y, style_path, spec, args.ff_steps, args.ff_style_weight)
            engine.translate(test[:1])
            t0 = time.perf_counter()
            out = engine.translate(test)
            per = (time.perf_counter() - t0) / len(test)
            rows.append({"mode": "feed-forward", "features": name, "init_noise": None, "moment_weight": None,
                         "digit_accuracy": float((judge_clf.predict(out) == test_y).mean()),
                         "gram_distance": gram_distance(judge, out, style), "flat_texture": None,
                         "s_per_image": per, "training_s": train_s})
            print(f"  feed-forward / {name}: trained {args.ff_steps} steps in {train_s:.0f}s", flush=True)
    from sklearn.datasets import load_sample_image

    timing = StyleOptions(size=args.time_size, steps=args.time_steps, preview_every=10**4)
    t0 = time.process_time()
    stylize(load_sample_image("china.jpg"), texture(args.time_size, 0), timing, RandomFeatures(0))
    per_step = (time.process_time() - t0) / args.time_steps
    print()
    print(f"| mode | features | digit accuracy (originals {base_acc:.2f}) | Gram distance to style "
          f"(originals {base_gram:.3f}) | texture in flat regions | s per image | training s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        flat = "–" if r["flat_texture"] is None else f"{r['flat_texture']:.2f}"
        print(f"| {r['mode']} | {r['features']} | {r['digit_accuracy']:.2f} | {r['gram_distance']:.3f} | {flat} | "
              f"{r['s_per_image']:.3f} | {r['training_s']:.0f} |")
    print(f"\n{args.time_size} px photo, random features, defaults: {per_step:.2f} CPU-s per step, "
          f"{per_step * defaults.steps:.0f} CPU-s for the default {defaults.steps} steps")
    rec.save({"originals": {"digit_accuracy": base_acc, "gram_distance": base_gram}, "rows": rows,
              "time_256": {"size": args.time_size, "cpu_s_per_step": per_step,
                           "cpu_s_per_image_default_steps": per_step * defaults.steps,
                           "default_steps": defaults.steps}},
             settings=vars(args), variant=args.results_variant)
    if args.figure:
        figure(Path(args.figure), args.figure_size, args.figure_steps)


if __name__ == "__main__":
    main()   # records its own figures (benchmarks/results/style_transfer[-VARIANT].json) through Results
