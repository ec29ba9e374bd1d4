"""Synthetic datasets: N samples per class (or N unlabelled) written as a folder a training run or
another tool can read, with a manifest, optional filtering by a classifier's confidence, and the
classification accuracy score (CAS, Ravuri & Vinyals 2019): a small classifier trained on the
synthetic images only, tested on the run's real held-out images, beside the same classifier trained
on as many real training images.

Layout: DIR/<class name>/<seed>_<index>.png for conditional runs, DIR/<seed>_<index>.png otherwise;
DIR/manifest.json records the run, checkpoint, seeds, settings, counts and scores.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..families.base import Engine
from .common import Method, ProgressFn, ToolError, check_out_folder, check_progress, choose, role, write_png

METHODS = (Method("sampling", role("sample")),)
MAX_ROUNDS = 8  # confidence filtering draws at most this many times the asked-for number


@dataclass
class Synthetic:
    images: np.ndarray                 # uint8 (M, H, W, C)
    labels: np.ndarray | None          # class index per image (conditional runs)
    seeds: list[int]                   # the seed of each sampling call, in order
    drawn: int                         # images drawn (more than M when filtering dropped some)
    confidence: np.ndarray | None = None   # the classifier's confidence in each kept image's class
    notes: list[str] = field(default_factory=list)


def method_for(engine) -> Method:
    return choose(METHODS, engine, "synthesize a dataset")


def generate(engine: Engine, n_per_class: int, seed: int = 0, classifier=None, min_confidence: float = 0.0,
             batch: int = 64, progress: ProgressFn | None = None) -> Synthetic:
    """Draw the images. With `classifier` (a quality.FeatureSpace over the run's classes) and
    min_confidence > 0, only images it assigns to the asked-for class (unlabelled runs: to any
    class) with at least that probability are kept; drawing stops after MAX_ROUNDS x the request."""
    method_for(engine)
    if n_per_class < 1:
        raise ToolError("--n-per-class must be at least 1")
    conditional = bool(engine.conditional) and engine.data.num_classes > 0
    classes = list(range(engine.data.num_classes)) if conditional else [None]
    kept_imgs: dict = {c: [] for c in classes}
    kept_conf: dict = {c: [] for c in classes}
    seeds: list[int] = []
    drawn = 0
    notes: list[str] = []
    filtering = classifier is not None and min_confidence > 0
    next_seed = int(seed)
    want_total = n_per_class * len(classes)
    for c in classes:
        attempts = 0
        while len(kept_imgs[c]) < n_per_class and attempts < MAX_ROUNDS * n_per_class:
            k = min(batch, n_per_class - len(kept_imgs[c]) if not filtering else batch)
            labels = None if c is None else np.full(k, c, dtype=np.int64)
            imgs = engine.sample(k, seed=next_seed, labels=labels)
            seeds.append(next_seed)
            next_seed += 1
            drawn += k
            attempts += k
            if filtering:
                probs = classifier._run(imgs)[1]
                conf = probs[:, c] if c is not None else probs.max(1)
                ok = conf >= min_confidence
                imgs, conf = imgs[ok], conf[ok]
            else:
                conf = np.full(len(imgs), np.nan)
            room = n_per_class - len(kept_imgs[c])
            kept_imgs[c].extend(list(imgs[:room]))
            kept_conf[c].extend(list(conf[:room]))
            done = sum(len(v) for v in kept_imgs.values())
            check_progress(progress, done, want_total)
        if len(kept_imgs[c]) < n_per_class:
            name = engine.data.class_names[c] if c is not None else "the run"
            notes.append(f"only {len(kept_imgs[c])} of {n_per_class} images for {name} reached confidence "
                         f"{min_confidence:g} after {attempts} draws")
    images = np.stack([im for c in classes for im in kept_imgs[c]]) if drawn else np.zeros((0,), np.uint8)
    labels = np.array([c for c in classes for _ in kept_imgs[c]], dtype=np.int64) if conditional else None
    conf = np.array([v for c in classes for v in kept_conf[c]]) if filtering else None
    return Synthetic(images, labels, seeds, drawn, conf, notes)


def classification_accuracy_score(synthetic: np.ndarray, synthetic_labels: np.ndarray, real_train: np.ndarray,
                                  real_train_labels: np.ndarray, real_test: np.ndarray, real_test_labels: np.ndarray,
                                  epochs: int = 5, seed: int = 0) -> dict:
    """{"cas": accuracy on the real test images of a classifier trained on synthetic images,
    "real_baseline": the same classifier trained on as many real training images}."""
    from ..quality import FeatureSpace

    out: dict = {"test_images": int(len(real_test))}
    if len(np.unique(synthetic_labels)) < 2 or len(real_test) == 0:
        return {**out, "cas": None, "real_baseline": None, "note": "needs two classes and real test images"}
    syn = FeatureSpace.fit(synthetic, synthetic_labels, epochs=epochs, seed=seed)
    out["cas"] = float((syn.predict(real_test) == real_test_labels).mean())
    n = min(len(synthetic), len(real_train))
    if n and len(np.unique(real_train_labels)) >= 2:
        pick = np.random.default_rng(seed).choice(len(real_train), n, replace=False)
        real = FeatureSpace.fit(np.asarray(real_train)[pick], real_train_labels[pick], epochs=epochs, seed=seed)
        out["real_baseline"] = float((real.predict(real_test) == real_test_labels).mean())
        out["real_train_images"] = int(n)
    else:
        out["real_baseline"] = None
    return out


def real_split(record: dict, engine: Engine):
    """(train images, train labels, held-out images, held-out labels) of the run's data as run class
    indices (-1: a class the run does not know), or None with a reason when the data cannot be had."""
    from .common import run_split

    train, held, _real, why = run_split(record, engine)
    if train is None:
        return None, why
    if not train.class_names:
        return None, "the run's data has no classes"
    names = list(engine.data.class_names)
    mapping = np.array([names.index(n) if n in names else -1 for n in train.class_names])
    return (np.asarray(train.images), mapping[train.labels], np.asarray(held.images), mapping[held.labels]), ""


def check_dataset_folder(out: Path) -> None:
    """Refuse, before any work, a folder synthesize must not write into: a file, or an existing folder
    that holds anything and is not an earlier synthesize output (no manifest.json), such as a person's
    own training images. A new or empty folder, or an earlier output (overwritten with force), is fine."""
    check_out_folder(out)
    if out.is_dir() and not (out / "manifest.json").is_file() and any(out.iterdir()):
        raise ToolError(f"{out} already holds files and is not a synthesize output (no manifest.json); "
                        f"pick an empty or new folder")


def class_folders(engine: Engine) -> list[str]:
    """The folder of each class: its name made one safe file name (engines/names.py), unique."""
    from ..names import file_names

    given = list(engine.data.class_names[:engine.data.num_classes])
    return file_names(given + [f"class_{i}" for i in range(len(given), engine.data.num_classes)])


def write_dataset(out: Path, engine: Engine, syn: Synthetic, seed: int, force: bool) -> list[Path]:
    """Write the PNGs (class subfolders for conditional runs); refuses to overwrite without force, and
    refuses a folder that holds other things (check_dataset_folder)."""
    from ..names import UnsafeName, inside

    check_dataset_folder(out)

    names = []
    per_class: dict = {}
    folders = class_folders(engine)  # class names are data: each becomes one safe folder name
    for i in range(len(syn.images)):
        c = None if syn.labels is None else int(syn.labels[i])
        j = per_class.get(c, 0)
        per_class[c] = j + 1
        stem = f"{seed}_{j:05d}.png"
        names.append(out / folders[c] / stem if c is not None else out / stem)
    try:
        for p in names:
            inside(out, p)
    except UnsafeName as exc:
        raise ToolError(str(exc)) from None
    clash = [p for p in names + [out / "manifest.json"] if p.exists()]
    if clash and not force:
        raise ToolError(f"{clash[0]} already exists; use --force to overwrite")
    for img, path in zip(syn.images, names):
        write_png(img, path)
    return names


def write_manifest(out: Path, record: dict, engine: Engine, syn: Synthetic, settings: dict, files: list[Path],
                   scores: dict | None, self_check: dict | None = None) -> Path:
    counts = ({engine.data.class_names[c]: int((syn.labels == c).sum()) for c in range(engine.data.num_classes)}
              if syn.labels is not None else {"": int(len(syn.images))})
    manifest = {
        "run": str(record.get("run", "")),
        "family": record.get("family"), "checkpoint": record.get("checkpoint"),
        "checkpoint_step": record.get("checkpoint_step"),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "method": METHODS[0].name, "settings": settings, "seeds": syn.seeds, "drawn": syn.drawn,
        "kept": int(len(syn.images)), "classes": counts, "conditional": syn.labels is not None,
        "files": [p.relative_to(out).as_posix() for p in files],
        "class_folders": (dict(zip(engine.data.class_names, class_folders(engine)))
                          if syn.labels is not None else {}),
        "classification_accuracy": scores, "self_check": self_check, "notes": syn.notes,
    }
    out.mkdir(parents=True, exist_ok=True)
    path = out / "manifest.json"
    path.write_text(json.dumps(manifest, indent=1))
    return path


__all__ = ["METHODS", "Synthetic", "generate", "classification_accuracy_score", "real_split", "write_dataset",
           "write_manifest", "method_for", "check_dataset_folder"]
