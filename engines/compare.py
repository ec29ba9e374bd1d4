"""Runs side by side: the facts a person weighs when choosing between families on their own data.

Two kinds of facts:
- `run_facts(path)`: what the run folder already says (status, steps, training time, the last and
  best value of every logged measure, the curves). Reading it costs milliseconds.
- `measure_run(path, ...)`: what only the trained model can say, measured now on the same footing
  for every family: parameters, sampling time per image, and (for data with class subfolders) the
  Fréchet distance and classes covered in the feature space of a small classifier of that data
  (engines/quality.py). Seconds to minutes; progress is reported and it can be cancelled.

Figures are comparable between runs on the same data (`data_key`), not across datasets.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from .names import printable
from .train.record import RunRecord
from .workspace import describe_data, metric_rows, read_record, summarize_run

# The direction of the measures the families log, by name without the "val/" prefix. A measure not
# listed has no "best" (diagnostics such as diversity are judged by a person, not minimised).
LOWER_IS_BETTER = frozenset({"bits_per_dim", "loss", "mse", "nll", "frechet"})
HIGHER_IS_BETTER = frozenset({"psnr_db"})


def _direction(name: str) -> int:
    base = name.split("/", 1)[1] if name.startswith("val/") else name
    return -1 if base in LOWER_IS_BETTER else (1 if base in HIGHER_IS_BETTER else 0)


@dataclass(frozen=True)
class RunFacts:
    path: Path
    name: str
    family: str
    status: str
    step: int
    dataset: str                     # a person's description of the data
    data_key: str                    # equal for runs trained on the same data with the same preprocessing
    train_seconds: float | None      # training time over all sessions (resumes add up)
    final: dict[str, float]          # the last logged value of every measure
    best: dict[str, float]           # the best logged value of measures with a known direction
    curves: dict[str, np.ndarray] = field(repr=False)  # name -> (k, 3): step, training seconds, value
    rollbacks: int = 0
    thumbnail: Path | None = None

    @property
    def seconds_per_step(self) -> float | None:
        return self.train_seconds / self.step if self.train_seconds and self.step else None


def data_key(data: dict) -> str:
    """Runs with equal keys saw the same images the same way, so their quality figures compare."""
    keep = {k: data.get(k) for k in ("sources", "size", "channels", "fit", "background")}
    keep["sources"] = sorted(str(s).rstrip("/\\") for s in keep["sources"] or [])
    return json.dumps(keep, sort_keys=True)


def run_facts(path: str | Path) -> RunFacts:
    """Facts from the run folder alone. ValueError (with a reason) when it is not a usable run."""
    summary = summarize_run(path)
    data = read_record(summary.path).data
    rows: dict[str, list[tuple[float, float, float]]] = {}
    offset = last_time = 0.0
    rollbacks = 0
    logged_step = 0  # a running run's run.json still says step 0; its metrics say how far it got
    for step, row in metric_rows(summary.path):
        logged_step = max(logged_step, step)
        if row.get("event") == "rollback":
            rollbacks += 1
            continue
        total = row.get("train_seconds")  # the loop's own count over sessions (what time budgets use)
        t = row.get("time")
        if isinstance(total, (int, float)) and math.isfinite(total):
            offset, last_time = 0.0, float(total)
        elif isinstance(t, (int, float)) and math.isfinite(t):
            if t < last_time:        # a resumed session restarts its clock: carry the earlier total
                offset += last_time
            last_time = float(t)
        seconds = offset + last_time
        values = dict(row.get("metrics") if isinstance(row.get("metrics"), dict) else {})
        # training losses too, as "train/NAME": a short run has them long before its first validation
        losses = row.get("losses") if isinstance(row.get("losses"), dict) else {}
        values.update({f"train/{name}": value for name, value in losses.items()})
        for name, value in values.items():
            if isinstance(value, (int, float)) and math.isfinite(value):
                rows.setdefault(str(name), []).append((float(step), seconds, float(value)))
    curves = {name: np.asarray(points, dtype=np.float64) for name, points in rows.items()}
    final, best = _final_and_best(curves)
    return RunFacts(
        path=summary.path, name=summary.name, family=summary.family, status=summary.status,
        step=max(summary.step, logged_step), dataset=describe_data(data), data_key=data_key(data),
        train_seconds=(offset + last_time) or None, final=final, best=best, curves=curves,
        rollbacks=rollbacks, thumbnail=summary.thumbnail)


def _final_and_best(curves: dict[str, np.ndarray]) -> tuple[dict[str, float], dict[str, float]]:
    """Each curve's last value, and its best for the measures with a direction (higher or lower is better)."""
    final = {name: float(c[-1, 2]) for name, c in curves.items()}
    best = {}
    for name, c in curves.items():
        direction = _direction(name)
        if direction:
            best[name] = float(c[:, 2].max() if direction > 0 else c[:, 2].min())
    return final, best


def at(f: RunFacts, step: int | None = None, seconds: float | None = None) -> RunFacts:
    """The run as it stood at `step` or after `seconds` of training time (rows logged up to then):
    lines runs up at equal steps or at equal training time. Past its end, the run as it is."""
    if step is None and seconds is None:
        return f
    column, limit = (0, float(step)) if step is not None else (1, float(seconds))
    curves = {n: c[c[:, column] <= limit + 1e-9] for n, c in f.curves.items()}
    curves = {n: c for n, c in curves.items() if len(c)}
    final, best = _final_and_best(curves)
    points = np.concatenate([c[:, :2] for c in curves.values()]) if curves else np.zeros((0, 2))
    # the latest row: highest step, and of the rows logged at that step the latest time (a measure
    # logged after the loss at the same step carries a later time)
    last = points[np.lexsort((points[:, 1], points[:, 0]))[-1]] if len(points) else None
    return replace(f, step=int(last[0]) if last is not None else 0,
                   train_seconds=float(last[1]) if last is not None and last[1] > 0 else None,
                   final=final, best=best, curves=curves)


def common_measures(facts: list[RunFacts]) -> list[str]:
    """Measures worth a column or a plot: those at least one run logged; held-out measures first,
    then the ones most runs share, training losses after diagnostics, per-class counts last."""
    names = sorted({n for f in facts for n in f.curves})
    shared = lambda n: sum(n in f.curves for f in facts)  # noqa: E731
    return sorted(names, key=lambda n: (not n.startswith("val/"), -shared(n), n.startswith("train/"),
                                        "/" in n and not n.startswith(("val/", "train/")), n))


@dataclass(frozen=True)
class Measured:
    """What the trained model itself says, measured now (engines/metrics.py for the measures)."""
    checkpoint_step: int
    parameters: int
    n: int                                   # images drawn for the measures
    ms_per_image: float                      # wall time of drawing them, per image
    frechet: float | None = None             # vs the run's own data, in the feature space named below
    classes_covered: int | None = None
    num_classes: int | None = None
    note: str = ""                           # why a figure is missing
    features: str = ""                       # the feature extractor every quality figure comes from
    kid: float | None = None                 # unbiased KID (cubic kernel) over all samples
    kid_std_error: float | None = None       # its bootstrap standard error (kid_method says how)
    kid_method: str = ""
    precision: float | None = None           # Kynkäänniemi et al. 2019, k = 3
    recall: float | None = None
    density: float | None = None             # Naeem et al. 2020, k = dc_k (5, as they recommend)
    coverage: float | None = None
    dc_k: int | None = None
    memorised: float | None = None           # share of samples nearer a training image than ~5% of
                                             # training images are to each other (~0.05 is normal);
                                             # only the images the run trained on (not its held-out split)
    train_images: int | None = None          # how many those were
    train_seconds: float | None = None       # training time of the checkpoint measured
    samples: np.ndarray | None = field(default=None, repr=False)         # the first samples, uint8 NHWC
    nearest_images: np.ndarray | None = field(default=None, repr=False)  # their nearest training images
    flagged: np.ndarray | None = field(default=None, repr=False)         # which of them count as memorised

    def to_json(self) -> dict:
        skip = {"samples", "nearest_images", "flagged"}
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if k not in skip}


SHOWN_NEAREST = 16  # samples kept with their nearest training images for a person to look at


class Cancelled(Exception):
    pass


def checkpoints_with_time(path: str | Path) -> list[tuple[int, float | None]]:
    """(step, training seconds when it was saved) of every checkpoint of a run, oldest first.
    Seconds come from the checkpoint (runs since time budgets) or else from the logged rows."""
    from .train.checkpoint import checkpoint_paths

    facts = None
    out = []
    for step, p in checkpoint_paths(Path(path)):
        seconds = None
        try:
            seconds = json.loads(p.read_text()).get("loop", {}).get("train_seconds")
        except (OSError, ValueError, AttributeError):
            pass
        if not isinstance(seconds, (int, float)):
            if facts is None:
                facts = run_facts(path)
            rows = np.concatenate([c[:, :2] for c in facts.curves.values()]) if facts.curves else np.zeros((0, 2))
            rows = rows[rows[:, 0] <= step]
            seconds = float(rows[:, 1].max()) if len(rows) else None
        out.append((step, float(seconds) if seconds is not None else None))
    return out


def checkpoint_at(path: str | Path, step: int | None = None, seconds: float | None = None) -> int | None:
    """The step of the newest checkpoint saved at or before `step` / `seconds` of training time
    (None when there is none that early); without a limit, the newest."""
    found = checkpoints_with_time(path)
    if step is not None:
        found = [c for c in found if c[0] <= step]
    if seconds is not None:
        found = [c for c in found if c[1] is not None and c[1] <= seconds + 1e-6]
    return found[-1][0] if found else None


FeatureCache = dict  # data_key -> (extractor, name, real images, features, (dataset size, picked indices));
                    # shared across the runs of one comparison


def measure_run(path: str | Path, n: int = 128, seed: int = 0, features: FeatureCache | None = None,
                progress: Callable[[str], None] | None = None,
                cancelled: Callable[[], bool] | None = None, checkpoint: str | int | None = None) -> Measured:
    """Sample n images from the run's newest checkpoint and measure them (see the module note).

    `features` caches the classifier per dataset between calls; `progress(text)` says what is
    happening; `cancelled()` is polled between and inside the slow parts (raises Cancelled)."""
    from .families.base import Cancelled as EngineCancelled
    from .families import capabilities
    from .train.restore import load_engine
    from .train.run import RunError

    say = progress or (lambda text: None)
    stop = cancelled or (lambda: False)

    def check():
        if stop():
            raise Cancelled()

    say("loading the model")
    engine, record = load_engine(path, None if checkpoint is None else str(checkpoint))
    check()

    def sampling_progress(done: int, total: int) -> None:
        if stop():
            raise EngineCancelled()
        say(f"drawing {n} samples: {done}/{total}")

    if not capabilities.has(engine, "sample"):
        raise RunError(f"{capabilities.why_not(engine, 'sample')}, so its samples cannot be measured")
    say(f"drawing {n} samples")
    t0 = time.perf_counter()
    try:
        images = engine.sample(n, seed=seed, progress=sampling_progress)
    except EngineCancelled:
        raise Cancelled() from None
    ms = (time.perf_counter() - t0) * 1000.0 / n
    step = record.checkpoint_step
    seconds = dict(checkpoints_with_time(path)).get(step) if Path(path).is_dir() else None
    base = dict(checkpoint_step=step, parameters=engine.parameter_count(), n=n, ms_per_image=ms,
                train_seconds=seconds)
    check()
    data = record.data
    if not data.get("sources"):
        return Measured(**base, note="the run does not say which images it trained on; quality needs them")
    key = data_key(data)
    cache = features if features is not None else {}
    if key not in cache:
        cache[key] = _feature_space(data, say, stop)
    space, name, real, real_features, picked = cache[key]
    check()
    say("measuring samples")
    from .metrics import quality_report
    from .quality import FeatureSpace
    report = quality_report(space, name, real, images, seed=seed, train_features=real_features,
                            train_mask=_trained_on(engine, record, picked, len(real)))
    shown = min(SHOWN_NEAREST, n)
    classes = {}
    if isinstance(space, FeatureSpace):
        classes = dict(classes_covered=space.classes_covered(images), num_classes=space.num_classes)
    return Measured(**base, frechet=report.frechet, features=name, kid=report.kid,
                    kid_std_error=report.kid_std_error, kid_method=report.kid_method, precision=report.precision,
                    recall=report.recall, density=report.density, coverage=report.coverage, dc_k=report.dc_k,
                    memorised=report.memorised, train_images=report.n_train,
                    samples=np.asarray(images[:shown]), nearest_images=np.asarray(real[report.nearest[:shown]]),
                    flagged=report.flagged[:shown], **classes)


def _feature_space(data: dict, say, stop):
    """(extractor, its name, the training images, their features) for the run's data: the data's
    classifier when it has class subfolders, else random conv features (engines/metrics.py)."""
    from .data import DataError
    from .metrics import extractor_for
    from .train.run_data import load_run_data

    say("loading the run's data")
    try:
        dataset = load_run_data({"data": data}, cancelled=stop)
    except DataError as exc:
        if stop():
            raise Cancelled() from None
        raise DataError(f"cannot load the run's training data again ({exc}); sample quality needs it") from None
    if stop():
        raise Cancelled()
    real, labels = dataset.images, dataset.labels
    pick = None
    if len(real) > 5000:  # enough for stable statistics; keeps the classifier to seconds
        pick = np.random.default_rng(0).choice(len(real), 5000, replace=False)
        real, labels = real[pick], labels[pick]
    real = np.array(real)
    classes = len(data.get("classes") or {}) >= 2 and len(np.unique(labels)) >= 2
    say(f"training a small classifier on {len(real):,} images (once per dataset)" if classes
        else "building random conv features (the data has no classes)")
    space, name = extractor_for(real, labels if classes else None)
    return space, name, real, space.features(real), (len(dataset), pick)


def _trained_on(engine, record: RunRecord, picked: tuple[int, np.ndarray | None], n_real: int) -> np.ndarray | None:
    """Which of the measured real images the run trained on (bool per image): a family that
    validates held a split out (the loop's split, same fraction and seed), which it never saw."""
    from .data.dataset import held_out_indices
    from .families.base import Engine

    try:
        fraction, seed = float(record.setting("val_fraction", 0.1)), int(record.setting("seed", 0))
    except (TypeError, ValueError):
        return None
    total, pick = picked
    if type(engine).validate is Engine.validate or fraction <= 0 or total < 2:
        return None                                   # no held-out split: every image was trained on
    trained = np.ones(total, bool)
    trained[held_out_indices(total, fraction, seed)] = False
    return trained if pick is None else trained[pick]


# Diagnostics that say something across runs at a glance; the rest stay in the curves.
_GLANCE = ("diversity_vs_data", "classes_seen", "active_units")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    s = int(round(seconds))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else (f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{seconds:.1f}s")


def _number(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def table(facts: list[RunFacts], measured: dict[Path, Measured] | None = None) -> tuple[list[str], list[list[str]]]:
    """(headers, rows of text), one row per run: the comparison as the CLI prints it and the studio shows it."""
    measured = measured or {}
    names = [n for n in common_measures(facts) if n.startswith("val/") or n in _GLANCE]
    headers = ["Run", "Family", "Status", "Steps", "Training time", "Per step"]
    headers += [printable(f"{n.removeprefix('val/')}{' (best)' if _direction(n) else ''}") for n in names]
    headers += ["Parameters", "ms / image", "Fréchet ↓", "Classes covered"] + list(QUALITY_HEADERS)
    rows = []
    for f in facts:
        m = measured.get(f.path)
        per_step = f.seconds_per_step
        row = [printable(f.name), f.family, f.status, f"{f.step:,}", _duration(f.train_seconds),
               f"{per_step * 1000:.0f} ms" if per_step is not None else "–"]
        bound = _is_bound(f.family)
        row += [("≤ " if bound and n == "val/bits_per_dim" and n in f.final else "") + _number(f.best.get(n, f.final.get(n)))
                for n in names]
        if m is None:
            row += ["–"] * (4 + len(QUALITY_HEADERS))
        else:
            row += [f"{m.parameters:,}", f"{m.ms_per_image:.3g}", _number(m.frechet),
                    f"{m.classes_covered}/{m.num_classes}" if m.classes_covered is not None else "–"]
            row += [_kid_text(m)] + [_share(getattr(m, k)) for k in ("precision", "recall")]
            row += [_number(m.density), _share(m.coverage), _share(m.memorised)]
        rows.append(row)
    return headers, rows


# The sample-quality columns after Fréchet distance (engines/metrics.py says what each means).
QUALITY_HEADERS = ("KID ↓", "Precision ↑", "Recall ↑", "Density", "Coverage ↑", "Memorised")


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _kid_text(m: Measured) -> str:
    if m.kid is None:
        return "–"
    se = m.kid_std_error
    return f"{m.kid:.3g} ± {se:.2g}" if se is not None and math.isfinite(se) else f"{m.kid:.3g}"


def _is_bound(family: str) -> bool:
    """Whether the family's bits/dim is an upper bound (VAEs: the negative ELBO) rather than exact."""
    from . import registry
    from .families import capabilities
    try:
        cls = registry.get(family).engine_class
        return capabilities.has(cls, "likelihood") and not cls.exact
    except registry.UnknownFamily:
        return False


def write_csv(path: str | Path, headers: list[str], rows: list[list[str]]) -> Path:
    """The comparison table as CSV (UTF-8, as the table shows it)."""
    import csv

    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(headers)
        writer.writerows(rows)
    return path


def mixed_data_note(facts: list[RunFacts]) -> str:
    """A warning when the runs did not all see the same data (their quality figures do not compare)."""
    groups = {f.data_key for f in facts}
    if len(groups) <= 1:
        return ""
    return (f"these runs were trained on {len(groups)} different datasets or preprocessings: "
            f"compare likelihood and Fréchet figures only between runs on the same data")
