"""genstudio synthesize RUN --n-per-class N --out DIR [--min-confidence P]: a synthetic dataset with a manifest."""

from __future__ import annotations

import sys
from pathlib import Path

from ..export import names_image_file
from ..tools import synthesize as tool
from ..words import count
from . import CliError
from ..tools.options import SynthesizeOptions
from .tool_args import add_common, add_options, cli_progress, open_run, options_from


def add_parser(sub) -> None:
    p = sub.add_parser("synthesize", help="write a synthetic dataset (class subfolders) with a manifest")
    add_common(p, images=False)
    add_options(p, SynthesizeOptions, required=("n_per_class",))
    p.add_argument("--no-cas", action="store_true",
                   help="skip the classification accuracy score (a classifier trained on the synthetic set, "
                        "tested on the real held-out split)")


def run(args) -> int:
    opts = options_from(args, SynthesizeOptions)
    if args.label:
        raise CliError("synthesize draws every class; --label does not apply")
    out = Path(args.out).expanduser()
    if names_image_file(out):
        raise CliError(f"--out {args.out} names an image file, but synthesize writes a dataset folder (class "
                       f"subfolders and manifest.json): give a folder name")
    tool.check_dataset_folder(out)   # a person's own images there: refused before the run is even opened
    engine, record = open_run(args)
    tool.method_for(engine)
    if (out / "manifest.json").exists() and not args.force:
        raise CliError(f"{out / 'manifest.json'} already exists; use --force to overwrite")
    split, why = (None, "")
    need_data = opts.min_confidence > 0 or (not args.no_cas and engine.conditional)
    if need_data:
        split, why = tool.real_split(record, engine)
    classifier = None
    if opts.min_confidence > 0:
        if split is None:
            raise CliError(f"--min-confidence needs a classifier of the run's data, but {why}")
        from ..quality import FeatureSpace
        train_x, train_y = split[0], split[1]
        keep = train_y >= 0
        classifier = FeatureSpace.fit(train_x[keep], train_y[keep])
    syn = tool.generate(engine, opts.n_per_class, seed=args.seed, classifier=classifier,
                        min_confidence=opts.min_confidence, progress=cli_progress("sampling"))
    files = tool.write_dataset(out, engine, syn, args.seed, args.force)
    scores = None
    if not args.no_cas:
        if not engine.conditional:
            scores = {"cas": None, "note": "the run is not class-conditional, so there is no accuracy to score"}
        elif split is None:
            scores = {"cas": None, "note": why}
        else:
            tx, ty, hx, hy = split
            scores = tool.classification_accuracy_score(syn.images, syn.labels, tx[ty >= 0], ty[ty >= 0],
                                                        hx[hy >= 0], hy[hy >= 0], seed=args.seed)
    settings = {"n_per_class": opts.n_per_class, "seed": args.seed, "min_confidence": opts.min_confidence,
                "sampling_options": list(args.set), "checkpoint_asked": args.checkpoint}
    check = None
    if scores and scores.get("cas") is not None:
        from ..tools.selfcheck import cas_check

        check = cas_check(scores, engine, record, tool.METHODS[0].name)
    manifest = tool.write_manifest(out, record, engine, syn, settings, files, scores,
                                   None if check is None else check.to_json())
    for note in syn.notes:
        print(f"note: {note}", file=sys.stderr)
    kind = f"{engine.data.num_classes} class folders" if syn.labels is not None else "one folder (unlabelled run)"
    print(f"wrote {count(len(files), 'image')} in {kind} and {manifest.name} to {out}")
    if scores and scores.get("cas") is not None:
        base = scores.get("real_baseline")
        print(f"classification accuracy score: {scores['cas']:.3f} on {scores['test_images']} real held-out images"
              + (f" (trained on real images: {base:.3f})" if base is not None else ""))
        if check is not None and check.available:
            print(("warning: " if check.loses else "self-check: ") + check.verdict())
            if check.suggestion:
                print(f"suggestion: {check.suggestion}")
    elif scores:
        print(f"classification accuracy score: not computed ({scores.get('note')})")
    return 0
