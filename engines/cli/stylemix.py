"""genstudio stylemix RUN_DIR --rows SEEDS --cols SEEDS --levels coarse|middle|fine --out FILE.png

StyleGAN's style-mixing figure: the top row shows the column seeds' images, the left column the
row seeds'; each cell draws its column's seed with the chosen styles (coarse: pose and layout,
middle: features, fine: colour and texture) taken from its row's seed, so a row shares them."""

from __future__ import annotations

from ..config import ConfigError, parse_assignments
from ..export import IMAGE_FORMATS, ExportError, names_image_file, still_image, write_image
from ..families import capabilities
from ..train.restore import load_engine
from . import CliError
from .export_args import add_export_arguments, export_options


def add_parser(sub) -> None:
    p = sub.add_parser("stylemix", help="StyleGAN: a style-mixing grid (rows lend coarse, middle or fine styles)")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--rows", required=True, metavar="SEEDS", help="comma list of seeds whose styles the rows lend")
    p.add_argument("--cols", required=True, metavar="SEEDS", help="comma list of seeds the columns draw")
    p.add_argument("--levels", default="coarse", metavar="LEVEL",
                   help="which styles the rows lend: coarse, middle, fine, or a comma list (default coarse)")
    p.add_argument("--out", required=True, metavar="FILE.png", help="the grid as one image (.png, .jpg, .webp...)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a sampling option (e.g. truncation=0.7); repeatable")
    add_export_arguments(p, fps=None, scale=4, labels_help="caption the source images with their seeds")
    p.add_argument("--checkpoint", help="latest (default), best, a step number, or one of the run's checkpoint JSONs")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")


def _seeds(text: str, flag: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise CliError(f"{flag} takes whole-number seeds separated by commas, not {text!r}") from None
    if not seeds or len(seeds) > 32 or any(not 0 <= s < 2**63 for s in seeds):
        raise CliError(f"{flag} takes 1 to 32 seeds from 0 to 2^63-1")
    return seeds


def run(args) -> int:
    rows, cols = _seeds(args.rows, "--rows"), _seeds(args.cols, "--cols")
    if not names_image_file(args.out):
        raise CliError(f"--out must be an image file name ({', '.join(IMAGE_FORMATS)})")
    options = export_options(args)
    engine, record = load_engine(args.run_dir, args.checkpoint)
    if not capabilities.has(engine, "stylemix"):
        raise CliError(f"{capabilities.why_not(engine, 'stylemix')}; style mixing needs a stylegan run")
    try:
        engine.set_sampling_options(**parse_assignments(args.set))
        grid = engine.style_mix(rows, cols, args.levels)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    r, c = grid.shape[:2]
    captions = [""] + [f"seed {s}" for s in cols] + [x for s in rows for x in [f"seed {s}"] + [""] * (c - 1)]
    try:
        frame_options = options.frame_options(captions)
        out = write_image(still_image(grid.reshape(r * c, *grid.shape[2:]), c, frame_options["labels"],
                                      options.scale, options.resample), args.out, force=args.force)
    except ExportError as exc:
        raise CliError(str(exc)) from None
    print(f"wrote a {r - 1}x{c - 1} style-mixing grid ({args.levels} styles from the rows) to {out}")
    return 0
