"""genstudio translate RUN --images X --out DIR [--direction a2b|b2a]: image-to-image with a trained
translator (CycleGAN; trained style networks). One PNG per input, relative paths and names kept."""

from __future__ import annotations

from ..families import capabilities
from ..words import count
from . import CliError
from .tool_args import add_common, cli_progress, open_run, read_inputs, result_paths, write_results, written_to


def add_parser(sub) -> None:
    p = sub.add_parser("translate", help="translate images with a trained CycleGAN (or style) run or model file")
    add_common(p)
    p.add_argument("--direction", help="which way to translate: a2b (the default: --data's set to --input b's) "
                                       "or b2a")


def run(args) -> int:
    engine, record = open_run(args)
    if not capabilities.has(engine, "translate"):
        raise CliError(f"{capabilities.why_not(engine, 'translate')}; translate needs a run of a family that "
                       f"translates (cyclegan, style)")
    direction = args.direction or engine.directions[0]
    if direction not in engine.directions:
        raise CliError(f"--direction must be {' or '.join(engine.directions)} for this {record.family} run")
    source, target = engine.channels_of(direction)
    inputs = read_inputs(engine, record, args, channels=source)
    result_paths(args.out, inputs.names, args.force)  # refuse to overwrite before the work, not after
    images = engine.translate(inputs.images, direction, progress=cli_progress("translating"))
    written = write_results(images, inputs, args.out, args.force)
    kind = "grey" if target == 1 else "RGB"
    # a direction named by a verb ("stylise") reads as the verb; a2b/b2a as "translated N images a2b"
    done = f"{direction}d {count(len(written), 'image')}" if direction.endswith("e") else \
        f"translated {count(len(written), 'image')} {direction}"
    print(f"{done} ({engine.data.size} px, {kind}) {written_to(args.out, written)}")
    return 0
