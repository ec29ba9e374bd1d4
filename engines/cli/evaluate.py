"""genstudio evaluate RUN_DIR --data FOLDER [--json]: a trained run's measures (e.g. bits/dim) on a folder.

The folder is preprocessed exactly as the run's training data was (size, channels and fit mode
from run.json), and class subfolders are matched to the run's classes by name.
"""

from __future__ import annotations

import json

import numpy as np
import torch

from ..train.run_data import load_run_data
from ..families import capabilities
from ..families.base import Batch
from ..train.restore import load_engine
from ..train.run import RunError
from . import CliError


def add_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="measure a trained run on an image folder (bits/dim and more)")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--data", action="append", required=True, metavar="FOLDER",
                   help="image folder or file to evaluate on; repeatable")
    p.add_argument("--checkpoint", help="latest (default), best, a step number, or one of the run's checkpoint JSONs")
    p.add_argument("--batch-size", type=int, default=256, help="images per evaluation batch (default 256)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def run_labels(engine, dataset) -> np.ndarray:
    """The dataset's labels as the run's class indices (matched by name)."""
    run_names = list(engine.data.class_names)
    if not engine.conditional:
        return np.zeros(len(dataset), dtype=np.int64)
    if not dataset.class_names:
        raise RunError(f"this run is conditioned on classes, so the data needs class subfolders named like the "
                       f"training data's ({', '.join(run_names)})")
    unknown = [n for n in dataset.class_names if n not in run_names]
    if unknown:
        raise RunError(f"class folder {unknown[0]!r} is not one of the run's classes: {', '.join(run_names)}")
    mapping = np.array([run_names.index(n) for n in dataset.class_names], dtype=np.int64)
    return mapping[dataset.labels]


def batches(images: np.ndarray, labels: np.ndarray, size: int, device: torch.device):
    for i in range(0, len(images), size):
        x = torch.from_numpy(np.array(images[i:i + size])).permute(0, 3, 1, 2).contiguous()
        yield Batch(x.to(device), torch.from_numpy(labels[i:i + size]).to(device))


def run(args) -> int:
    if not 1 <= args.batch_size <= 4096:
        raise CliError("--batch-size must be between 1 and 4096")
    engine, record = load_engine(args.run_dir, args.checkpoint)
    dataset = load_run_data(record, args.data)  # the run's preprocessing, background included
    labels = run_labels(engine, dataset)
    family = record.family_entry()
    measures = {k: float(v) for k, v in engine.validate(batches(dataset.images, labels, args.batch_size,
                                                                engine.device)).items()}
    if args.json:
        print(json.dumps({"run": str(args.run_dir), "family": family.name, "checkpoint": record.checkpoint,
                          "step": record.checkpoint_step, "images": len(dataset),
                          "skipped": len(dataset.skipped), "measures": measures}, indent=1))
        return 0
    print(f"{family.name} at step {record.checkpoint_step} on {dataset.summary()}")
    if not measures:
        print(f"{family.title} reports no measures on held-out data")
        return 0
    for key, value in measures.items():
        print(f"  {key:18s} {value:.4f}")
    if "bits_per_dim" in measures and capabilities.has(engine, "likelihood") and engine.likelihood_note:
        print(f"  ({engine.likelihood_note})")
    return 0
