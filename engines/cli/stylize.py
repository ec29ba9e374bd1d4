"""genstudio stylize --content IMAGE|FOLDER --style IMAGE --out FILE.png|DIR: Gatys style transfer.

One RGB PNG per content image (a folder keeps its relative names, with .png); progress on stderr;
images that cannot be read are skipped with the reason; nothing is overwritten without --force."""

from __future__ import annotations

import sys
import time
from pathlib import Path


from ..config import ConfigError, replace_checked
from ..names import printable
from ..export import ExportError, check_file_target, names_image_file, write_image
from ..style import FEATURE_CHOICES_HELP, MAX_SIZE, MIN_SIZE, FeatureError, StyleOptions, load_features, stylize
from ..style.images import Skip, content_files, read_image
from . import CliError


def add_parser(sub) -> None:
    p = sub.add_parser("stylize", help="paint content images in the style of a style image (Gatys optimisation)")
    p.add_argument("--content", required=True, metavar="IMAGE|FOLDER", help="a content image or a folder of them")
    p.add_argument("--style", required=True, metavar="IMAGE", help="the style image")
    p.add_argument("--out", required=True, metavar="FILE.png|DIR",
                   help="an image file (.png, .jpg, .webp...; one content image) or a folder (PNGs with the content "
                        "folder's names)")
    p.add_argument("--size", type=int, default=256, help=f"longest side of the result, {MIN_SIZE}-{MAX_SIZE} px "
                                                         f"(default 256)")
    p.add_argument("--steps", type=int, default=300, help="optimisation iterations (default 300)")
    p.add_argument("--style-weight", type=float, default=10.0,
                   help="style against content (default 10; higher: more style)")
    p.add_argument("--content-weight", type=float, default=1.0, help="(default 1)")
    p.add_argument("--features", default="random", metavar="random|FILE.safetensors|RUN", help=FEATURE_CHOICES_HELP)
    p.add_argument("--optimizer", choices=("adam", "lbfgs"), default="adam")
    p.add_argument("--init", choices=("content", "noise"), default="content")
    p.add_argument("--init-noise", type=float, default=StyleOptions().init_noise,
                   help="style-coloured noise added to the start, 0-1 (default %(default)s; 0: flat regions of the "
                        "content stay flat, only recoloured)")
    p.add_argument("--moment-weight", type=float, default=StyleOptions().moment_weight,
                   help="match each style feature's mean and spread too, relative to the Grams (default %(default)s)")
    p.add_argument("--preserve-colour", "--preserve-color", action="store_true", dest="preserve_colour",
                   help="transfer texture in luminance only; keep the content's colours")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="overwrite existing result files")


def _options(args) -> StyleOptions:
    try:
        return replace_checked(StyleOptions(), size=args.size, steps=args.steps, style_weight=args.style_weight,
                               content_weight=args.content_weight, optimizer=args.optimizer, init=args.init,
                               init_noise=args.init_noise, moment_weight=args.moment_weight,
                               preserve_colour=args.preserve_colour, seed=args.seed)
    except ConfigError as exc:
        text = str(exc)
        if text.startswith("size "):
            text = (f"--size must be between {MIN_SIZE} and {MAX_SIZE} pixels (got {args.size}); larger results "
                    f"would take hours on a CPU")
        for name in ("steps", "style_weight", "content_weight", "seed", "init_noise", "moment_weight"):
            if text.startswith(name + " "):
                text = "--" + name.replace("_", "-") + text[len(name):]
        raise CliError(text) from None


def _targets(args) -> tuple[list[tuple[Path, Path]], list[tuple[str, str]], bool]:
    content = Path(args.content).expanduser()
    if not content.exists():
        raise CliError(f"--content {args.content}: no such file or folder")
    out = Path(args.out).expanduser()
    single = content.is_file()
    if names_image_file(out):
        try:
            check_file_target(out, force=True)  # not a folder, not under a file (existing files: below)
        except ExportError as exc:
            raise CliError(str(exc)) from None
        if not single:
            raise CliError(f"--out {out.name} takes one content image (it names an image file); for a folder of "
                           "content images give an output folder")
        files, skipped = [(content, out)], []
    else:
        if out.exists() and not out.is_dir():
            raise CliError(f"--out {args.out} exists and is not a folder")
        found, skipped = content_files(content)
        files = [(f, out / rel.with_suffix(".png")) for f, rel in found]
        if not files and not skipped:
            raise CliError(f"--content {args.content}: no files in the folder")
    return files, skipped, single


def run(args) -> int:
    options = _options(args)
    style_path = Path(args.style).expanduser()
    if not style_path.is_file():
        raise CliError(f"--style {args.style} is a folder; give one image file (the content may be a folder)"
                       if style_path.is_dir() else f"--style {args.style}: no such image file")
    try:
        style = read_image(style_path, max_side=options.size)
    except Skip as exc:
        raise CliError(f"--style {style_path.name}: {exc}") from None
    files, skipped, single = _targets(args)
    clash = [dst for _src, dst in files if dst.exists()]
    if clash and not args.force:
        more = f" (and {len(clash) - 1} more)" if len(clash) > 1 else ""
        raise CliError(f"{clash[0]} already exists{more}; use --force to overwrite")
    try:
        features = load_features(args.features, seed=args.seed)
    except FeatureError as exc:
        raise CliError(str(exc)) from None
    say = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    say(f"stylizing {len(files)} image{'s' if len(files) != 1 else ''} at {options.size} px, {options.steps} "
        f"{options.optimizer} steps, {features.description}")
    for path, reason in skipped:
        say(printable(f"skipped {path}: {reason}"))
    written, t0 = 0, time.perf_counter()
    for n, (src, dst) in enumerate(files, 1):
        try:
            content = read_image(src, max_side=options.size)
        except Skip as exc:
            skipped.append((str(src), str(exc)))
            say(printable(f"[{n}/{len(files)}] skipped {src}: {exc}"))
            continue
        last = [time.monotonic()]

        def progress(p, n=n, name=src.name):
            now = time.monotonic()
            if now - last[0] > 2.0 or p.step == p.total:
                last[0] = now
                say(f"[{n}/{len(files)}] {name}: step {p.step}/{p.total}  content {p.losses['content']:.3f}  "
                    f"style {p.losses['style']:.3f}")

        result = stylize(content, style, options, features, progress)
        try:
            write_image(result.image, dst, force=True)  # the format its suffix names; existing files checked above
        except ExportError as exc:
            raise CliError(str(exc)) from None
        written += 1
        say(f"[{n}/{len(files)}] wrote {dst} ({result.seconds:.1f}s)")
    print(f"wrote {written} image{'s' if written != 1 else ''} to {args.out} in {time.perf_counter() - t0:.1f}s"
          + (f"; {len(skipped)} skipped" if skipped else ""))
    if single and not written:
        return 2
    return 0 if written or not files else 2
