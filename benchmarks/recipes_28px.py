"""Every family's recipe at 28 px on digits for 2, 5 and 10 CPU-minutes: Fréchet distance and classes covered.

    nice -n 10 python benchmarks/recipes_28px.py                                  # the full table (hours)
    nice -n 10 python benchmarks/recipes_28px.py --families flow-matching,ddpm,sngan --seeds 0
    nice -n 10 python benchmarks/recipes_28px.py --families ddpm,flow-matching --minutes 1,2,4 --sweep --variant flow-vs-ddpm
    python benchmarks/recipes_28px.py --smoke                                     # seconds (the suite runs it)

Data: scikit-learn's 8 px digits upscaled to 28 px with small shifts and rotations (engines/data/toy.py,
~3.6k images), unlabelled so every family learns the same unconditional task; held-out digits are
another draw of shifts/rotations (seed 1). Each (family, seed) trains once through the normal training
loop with the family's recipe for 28 px (`registry.default_config` / `default_settings`, what the
studio applies), on one thread, and is measured when its own CPU time (time.process_time, so other
load on a shared machine does not shorten a budget) passes each mark of --minutes; the measuring
itself is not counted. Each run's time budget (`time_limit`, on the same CPU clock) is the last mark, so
schedules planned from the budget (ProGAN's growth, learning-rate decays) end there; for those the
earlier marks are part-way through the plan, not what a run of that length gives (measure such a family
with one mark per command for that).

Measured at each mark, on --samples samples drawn with the family's default sampling options, in the
feature space of a small digit classifier trained on the same digits (engines/quality.py):
  - Fréchet distance to the training digits (lower is better), with real vs real (held-out) as the floor;
  - classes covered: a digit counts when >= 2% of the samples are classified as it with probability >= 0.5;
  - CPU milliseconds per sample.
--sweep adds, at the last mark, Fréchet distance and cost against sampling steps for the families with
a step count (ddpm: DDIM steps; flow-matching: Euler and Heun steps; ebm: Langevin steps from noise and
from the replay buffer).

Snapshots and budget-planned schedules: a family whose schedule does not read the run's planned length
(constant learning rates, no growth plan) is trained once per seed up to the last mark and measured at
every mark on the way (the 2-minute figure is the 10-minute run at 2 CPU-minutes, which is what a
2-minute run of it gives, since nothing in it knows the budget). A family in BUDGET_PLANNED (its
schedule plans from the budget: ProGAN's growth) gets one run per mark, each with that mark as its
time limit.

Results go to benchmarks/results/recipes_28px[-VARIANT].json after every run (a cut-short session
keeps what it measured); sample grids to --out. Each row records the recipe it ran (the family's
config and recipe settings, and any --set changes), so `--table` can build the README's recipe table
from every committed results file: only rows of the recipe as it is now, run with no --set changes, at
the default --samples and --size, count; a cell nobody measured says "not run".

    python benchmarks/recipes_28px.py --table            # print the table from benchmarks/results/
    python benchmarks/recipes_28px.py --table --readme   # write it into README.md between its markers

A family spec NAME@LABEL (e.g. --families biggan,biggan@b16 --set biggan@b16:batch_size=16) runs the
family NAME as a separately labelled try, so several tries of one family share one command.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._results import Results, scratch_folder  # noqa: E402
from engines import registry  # noqa: E402
from engines.config import field_infos, parse_assignments, replace_checked  # noqa: E402
from engines.data import ImageDataset  # noqa: E402
from engines.data.toy import digit_images  # noqa: E402
from engines.families import capabilities  # noqa: E402
from engines.imaging import make_grid, save_png  # noqa: E402
from engines.quality import FeatureSpace  # noqa: E402
from engines.train import events as ev  # noqa: E402
from engines.train.budget import Budget  # noqa: E402
from engines.train.loop import Control, Trainer, TrainSettings  # noqa: E402

MIN_CONFIDENCE = 0.5
MIN_SHARE = 0.02
# what --sweep draws: (sampling options, network passes per sample)
SWEEPS = {
    "ddpm": [({"sampler": "ddim", "steps": s}, s) for s in (5, 10, 20, 50)],
    "flow-matching": [({"sampler": "euler", "steps": s, "noise": 0.0}, s) for s in (1, 2, 4, 8, 16, 32)]
                     + [({"sampler": "heun", "steps": s, "noise": 0.0}, 2 * s) for s in (1, 2, 4, 8, 16)],
    # ebm: Langevin steps from uniform noise, and from the replay buffer (the persistent chains)
    "ebm": [({"start": "noise", "steps": s}, s) for s in (50, 100, 200)]
           + [({"start": "buffer", "steps": s}, s) for s in (1, 20, 100)],
}
# families whose training schedule plans from the run's planned length (the loop's `total`, from the time
# budget): each mark needs its own run, as a snapshot of a longer run is part-way through its plan
BUDGET_PLANNED = ("progan",)
TABLE_MINUTES = (2, 5, 10)
TABLE_SAMPLES, TABLE_SIZE = 500, 28
README_BEGIN = "<!-- recipes_28px table: generated by `python benchmarks/recipes_28px.py --table --readme` -->"
README_END = "<!-- end of recipes_28px table -->"
SMOKE_CONFIG = {"flow-matching": {"base_channels": 8, "channel_mults": "1", "sample_steps": 2},
                "ddpm": {"base_channels": 8, "channel_mults": "1", "timesteps": 50, "sample_steps": 4}}


def sampling_families() -> list[str]:
    return [n for n in registry.names() if capabilities.has(registry.get(n).engine_class, "sample")]


def make_data(size: int, smoke: bool):
    copies = 1 if smoke else 2
    images, labels = digit_images(size=size, copies=copies, seed=0)
    held, held_labels = digit_images(size=size, copies=copies, seed=1)  # other shifts/rotations
    if smoke:
        images, labels, held, held_labels = images[:200], labels[:200], held[:200], held_labels[:200]
    return images, labels, held, held_labels


def sample_cost(engine, n: int, seed: int) -> tuple[np.ndarray, float]:
    """n samples and the CPU milliseconds each took."""
    t0 = time.process_time()
    samples = engine.sample(n, seed=seed)
    return samples, 1000 * (time.process_time() - t0) / n


def family_of(spec: str) -> str:
    """The registry name of a --families entry (NAME or NAME@LABEL)."""
    return spec.partition("@")[0]


def recipe_record(name: str, size: int) -> dict:
    """The family's recipe for `size` px as plain JSON: its config and the training settings it sets."""
    family = registry.get(name)
    config = json.loads(json.dumps(dataclasses.asdict(registry.default_config(name, size)), default=str))
    return {"config": config, "settings": dict(family.train_preset(size)) if family.train_preset else {}}


def run(spec: str, seed: int, marks_s: list[float], images: np.ndarray, size: int, overrides: dict,
        space: FeatureSpace, n: int, sweep: bool, out: Path, keep=None) -> list[dict]:
    """Train the family of `spec` until its CPU time passes each mark; measure there (measuring is not
    counted). `keep(row)` is called with each row as it is measured (so a cut-short run keeps its marks)."""
    torch.manual_seed(seed)
    name = family_of(spec)
    data = ImageDataset(images[..., None], np.zeros(len(images), np.int64), [], sources=["<sklearn digits>"])
    family = registry.get(name)
    config = registry.default_config(name, size)
    own = {i.name for i in field_infos(family.config_class)}
    recipe = {**recipe_record(name, size), "overrides": dict(overrides)}
    config = replace_checked(config, **{k: v for k, v in overrides.items() if k in own})
    settings = registry.default_settings(name, size, TrainSettings())
    settings = replace_checked(settings, steps=10_000_000, time_limit=marks_s[-1], seed=seed, log_every=5, sample_every=0,
                               checkpoint_every=0, monitor_every=0, validate_every=0, val_fraction=0.0, device="cpu",
                               **{k: v for k, v in overrides.items() if k not in own})
    trainer = Trainer.new(name, config, settings, data, None)
    control, rows, excluded = Control(), [], 0.0
    start = time.process_time()
    # the run's time budget (what schedules such as ProGAN's growth plan from) on this CPU clock, measuring excluded
    trainer.budget = Budget(settings.steps, settings.time_limit, clock=lambda: time.process_time() - excluded)
    pending = list(marks_s)
    events = trainer.run(control)
    while pending:
        e = next(events, None)
        if isinstance(e, ev.Failed):
            raise RuntimeError(f"{spec} seed {seed} failed: {e.message}")
        used = time.process_time() - start - excluded
        if e is None or used >= pending[0]:  # a run that ended on its budget is measured at its end
            t_measure = time.process_time()
            mark = pending.pop(0)
            samples, ms = sample_cost(trainer.engine, n, 12345 + seed)
            row = {"family": name, "seed": seed, "mark_s": mark, "cpu_s": round(used, 1), "steps": trainer.step,
                   "frechet": space.frechet(images, samples), "classes": space.classes_covered(samples, MIN_SHARE, MIN_CONFIDENCE),
                   "ms_per_sample": ms, "batch_size": trainer.settings.batch_size,
                   # the run's time budget: a mark before it is a snapshot of that run
                   "budget_s": marks_s[-1], "samples": n, "size": size, "recipe": recipe}
            if spec != name:
                row["try"] = spec
            save_png(make_grid(samples[:100], columns=10), out / f"{spec.replace('@', '_')}_seed{seed}_{mark:.0f}s.png", scale=2)
            if sweep and not pending and name in SWEEPS:
                row["sweep"] = steps_sweep(trainer.engine, images, space, n, seed)
            rows.append(row)
            if keep is not None:
                keep(row)
            print(f"  {spec} seed {seed} at {mark:.0f} CPU-s ({trainer.step} steps): Fréchet {row['frechet']:.2f}, "
                  f"classes {row['classes']}, {ms:.1f} CPU-ms/sample", flush=True)
            excluded += time.process_time() - t_measure
            if not pending and e is not None:
                control.request_stop()
                for _ in events:  # let the run finish
                    pass
    return rows


def steps_sweep(engine, images, space, n, seed) -> list[dict]:
    saved = engine.sampling_options()
    out = []
    try:
        for options, passes in SWEEPS[engine.family]:
            engine.apply_sampling_options(replace(saved, **options))
            samples, ms = sample_cost(engine, n, 777 + seed)
            out.append({**options, "network_passes": passes, "frechet": space.frechet(images, samples),
                        "classes": space.classes_covered(samples, MIN_SHARE, MIN_CONFIDENCE), "ms_per_sample": ms})
            print(f"    {options}: Fréchet {out[-1]['frechet']:.2f}, {ms:.1f} CPU-ms/sample", flush=True)
    finally:
        engine.apply_sampling_options(saved)
    return out


def mean_sd(values) -> str:
    v = np.asarray(values, float)
    return f"{v.mean():.1f} ± {v.std(ddof=1) if len(v) > 1 else 0.0:.1f}"


# --- the README's table, from every committed results file ---------------------------------------------

def table_rows(results: Path) -> list[tuple[str, dict]]:
    """(results file name, row) for every row that counts in the table: the family's recipe as it is
    now, no --set changes and no try label, at the table's sample count and size, not a smoke run."""
    recipes: dict[str, dict] = {}
    out = []
    for path in sorted(results.glob("recipes_28px*.json")):
        record = json.loads(path.read_text())
        if record.get("smoke"):
            continue
        for row in record.get("figures", {}).get("rows", []):
            recipe, name = row.get("recipe"), row.get("family")
            if (not recipe or recipe.get("overrides") or "try" in row or row.get("samples") != TABLE_SAMPLES
                    or row.get("size") != TABLE_SIZE or name not in registry.names()):
                continue
            if name not in recipes:
                recipes[name] = recipe_record(name, TABLE_SIZE)
            if {k: recipe.get(k) for k in ("config", "settings")} != recipes[name]:
                continue  # the recipe has changed since: that figure is not the recipe's any more
            if name in BUDGET_PLANNED and row.get("budget_s") != row.get("mark_s"):
                continue  # part-way through a plan made for a longer run
            out.append((path.name, row))
    return out


def _figure(values: list[float], digits: int = 1) -> str:
    """One value, or mean ± sd over seeds (with `digits` decimals; thousands separated)."""
    v = np.asarray(values, float)
    if len(v) == 1:
        return f"{v[0]:,.{digits}f}"
    return f"{v.mean():,.{digits}f} ± {v.std(ddof=1):,.{digits}f}"


def table_markdown(results: Path | None = None) -> str:
    """The recipe table: every family that samples × 2/5/10 CPU-minutes, mean ± sd over seeds."""
    results = results or ROOT / "benchmarks" / "results"
    chosen: dict[tuple[str, int, float], tuple[str, dict]] = {}
    for fname, row in table_rows(results):
        key = (row["family"], row["seed"], row["mark_s"])
        best = chosen.get(key)
        own_run = row.get("budget_s") == row["mark_s"]
        # a run of the mark's own length beats a snapshot of a longer one; else the later file
        if best is None or own_run or best[1].get("budget_s") != row["mark_s"]:
            chosen[key] = (fname, row)
    floors, floor_classes = [], []
    for fname in sorted({f for f, _ in chosen.values()}):
        floor = json.loads((results / fname).read_text())["figures"]["floor"]
        floors.append(floor["frechet"])
        floor_classes.append(floor.get("classes", 10))
    head = (f"| family | " + " | ".join(f"Fréchet @ {m} CPU-min" for m in TABLE_MINUTES)
            + " | classes (last mark) | steps (last mark) | CPU-ms / sample | results |")
    lines = [head, "|---|" + "---:|" * (len(TABLE_MINUTES) + 3) + "---|"]
    snapshot_used = False
    for name in sampling_families():
        cells, last, files = [], [], set()
        for m in TABLE_MINUTES:
            rows = [(f, r) for (fam, _, mark), (f, r) in sorted(chosen.items()) if fam == name and mark == 60.0 * m]
            if not rows:
                cells.append("not run")
                continue
            snapshot = any(r.get("budget_s") != r["mark_s"] for _, r in rows)
            snapshot_used |= snapshot
            seeds = ",".join(str(r["seed"]) for _, r in rows)
            cells.append(f"{_figure([r['frechet'] for _, r in rows])}{'*' if snapshot else ''} (seed{'s' if len(rows) > 1 else ''} {seeds})")
            last = [r for _, r in rows]
            files |= {f for f, _ in rows}
        if last:
            extra = [_figure([r["classes"] for r in last], 0 if len(last) == 1 else 1), _figure([r["steps"] for r in last], 0),
                     _figure([r["ms_per_sample"] for r in last]), ", ".join(f"`{f}`" for f in sorted(files))]
        else:
            extra = ["", "", "", ""]
        lines.append(f"| {name} | " + " | ".join(cells + extra) + " |")
    floor = _figure(floors) if floors else "not run"
    classes = _figure(floor_classes, 0) if floors else ""
    lines.append(f"| real vs real (held-out digits) | {floor} | | | {classes} | | | |")
    notes = [f"Fréchet distance of {TABLE_SAMPLES} samples to the {TABLE_SIZE} px training digits (mean ± sd over the seeds named; lower is better)."]
    if snapshot_used:
        notes.append("\\* measured part-way through a longer run of the same recipe (e.g. the 2-minute figure is the "
                     "10-minute run at 2 CPU-minutes): the same as a run of that length for these families, whose "
                     f"schedules do not depend on the budget ({', '.join(BUDGET_PLANNED)} "
                     f"{'plans' if len(BUDGET_PLANNED) == 1 else 'plan'} from it and "
                     f"{'is' if len(BUDGET_PLANNED) == 1 else 'are'} measured in runs of each length).")
    return "\n".join(lines) + "\n\n" + " ".join(notes) + "\n"


def write_readme(readme: Path, table: str) -> None:
    text = readme.read_text()
    begin, end = text.find(README_BEGIN), text.find(README_END)
    if begin < 0 or end < begin:
        raise SystemExit(f"{readme} has no recipes table markers ({README_BEGIN!r} ... {README_END!r})")
    text = text[:begin + len(README_BEGIN)] + "\n" + table + text[end:]
    readme.write_text(text)


def readme_table(readme: Path) -> str | None:
    """The table now between the README's markers (None: no markers)."""
    text = readme.read_text()
    begin, end = text.find(README_BEGIN), text.find(README_END)
    if begin < 0 or end < begin:
        return None
    return text[begin + len(README_BEGIN):end].lstrip("\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", default="all", help="comma list of NAME or NAME@LABEL (a labelled try), or 'all' (every family that samples)")
    ap.add_argument("--minutes", default="2,5,10", help="CPU-minute marks at which each run is measured")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--samples", type=int, default=TABLE_SAMPLES)
    ap.add_argument("--size", type=int, default=TABLE_SIZE)
    ap.add_argument("--set", action="append", default=[], metavar="FAMILY:KEY=VALUE",
                    help="change one setting of a family's recipe (config field or training setting), e.g. sngan:batch_size=32")
    ap.add_argument("--sweep", action="store_true", help="quality against sampling steps at the last mark (ddpm, flow-matching, ebm)")
    ap.add_argument("--variant", default="", help="results file suffix: benchmarks/results/recipes_28px-VARIANT.json")
    ap.add_argument("--out", default="", help="sample grids (default: a temporary folder)")
    ap.add_argument("--table", action="store_true", help="print the recipe table built from benchmarks/results/ (trains nothing)")
    ap.add_argument("--readme", action="store_true", help="with --table: write it into README.md between its markers")
    ap.add_argument("--smoke", action="store_true", help="two tiny families, seconds of work (run by the test suite)")
    args = ap.parse_args(argv)
    if args.table or args.readme:
        table = table_markdown()
        print(table)
        if args.readme:
            write_readme(ROOT / "README.md", table)
            print("written into README.md")
        return 0
    overrides: dict[str, dict] = {}
    if args.smoke:
        args.families, args.minutes, args.seeds, args.samples, args.size = "flow-matching,ddpm", "0.02", "0", 16, 16
        args.sweep = True
        overrides = {k: dict(v) for k, v in SMOKE_CONFIG.items()}
        for k in SWEEPS:
            SWEEPS[k] = SWEEPS[k][:1]
    for item in args.set:
        family, _, assignment = item.partition(":")
        overrides.setdefault(family, {}).update(parse_assignments([assignment]))
    families = sampling_families() if args.families == "all" else [f.strip() for f in args.families.split(",") if f.strip()]
    for spec in families:
        registry.get(family_of(spec))  # unknown names fail before any training
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    marks = [float(m) * 60 for m in args.minutes.split(",") if m.strip()]
    torch.set_num_threads(1)
    rec = Results("recipes_28px", seeds=seeds, smoke=args.smoke)
    out = Path(args.out or (scratch_folder("recipes28-smoke-") if args.smoke else tempfile.mkdtemp(prefix="recipes28-")))
    out.mkdir(parents=True, exist_ok=True)

    images, labels, held, held_labels = make_data(args.size, args.smoke)
    t0 = time.process_time()
    space = FeatureSpace.fit(images, labels, seed=0, input_size=16, **({"epochs": 1} if args.smoke else {}))
    held_acc = float((space.predict(held) == held_labels).mean())
    pick = np.random.default_rng(0).choice(len(held), size=min(args.samples, len(held)), replace=False)
    floor = space.frechet(images, held[pick])
    floor_classes = space.classes_covered(held[pick], MIN_SHARE, MIN_CONFIDENCE)
    print(f"{len(images)} digits at {args.size} px; classifier held-out accuracy {held_acc:.3f} "
          f"({time.process_time() - t0:.0f} CPU-s); real vs real: Fréchet {floor:.2f}, classes {floor_classes}", flush=True)
    figures = {"floor": {"frechet": floor, "classes": floor_classes, "held_out_accuracy": held_acc},
               "features": "engines.quality.FeatureSpace: a small digit classifier trained on the same digits, input 16 px",
               "marks_s": marks, "budget_planned": list(BUDGET_PLANNED), "rows": [], "failed": []}
    settings = {**vars(args), "overrides": overrides}

    def save() -> None:
        rec.save(figures, settings=settings, variant=args.variant or None, quiet=True,
                 notes="CPU seconds of one thread per run (time.process_time); the machine may be shared (see load)")

    def keep(row: dict) -> None:
        figures["rows"].append(row)
        save()

    for spec in families:
        # a budget-planned family: one run per mark, each with that mark as its budget; others: one run, every mark
        plans = [[m] for m in marks] if family_of(spec) in BUDGET_PLANNED else [marks]
        for seed in seeds:
            for plan in plans:
                try:
                    run(spec, seed, plan, images, args.size, overrides.get(spec, {}), space, args.samples, args.sweep,
                        out, keep)
                except Exception as exc:  # noqa: BLE001 - one family's failure must not lose the others' figures
                    figures["failed"].append({"family": spec, "seed": seed, "error": f"{type(exc).__name__}: {exc}"})
                    print(f"  {spec} seed {seed} FAILED: {exc}", flush=True)
                save()

    print(f"\n| family | " + " | ".join(f"FD @ {m / 60:g} CPU-min" for m in marks) + " | classes @ last | ms/sample |")
    print("| --- |" + " ---: |" * (len(marks) + 2))
    for spec in families:
        mine = [r for r in figures["rows"] if r.get("try", r["family"]) == spec]
        if not mine:
            continue
        cells = [mean_sd([r["frechet"] for r in mine if r["mark_s"] == m]) if any(r["mark_s"] == m for r in mine)
                 else "–" for m in marks]
        last = [r for r in mine if r["mark_s"] == marks[-1]] or mine
        print(f"| {spec} | " + " | ".join(cells) + f" | {mean_sd([r['classes'] for r in last])} | "
              f"{np.mean([r['ms_per_sample'] for r in last]):.1f} |")
    print(f"| real vs real | {floor:.2f} |")
    print(f"results: {rec.path(args.variant or None)}; grids: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
