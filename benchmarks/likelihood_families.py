"""Train likelihood families for a fixed wall time on digits; print bits/dim, time and sample quality.

    nice -n 10 python benchmarks/likelihood_families.py vae vae:architecture=mlp --seconds 100
    nice -n 10 python benchmarks/likelihood_families.py cvae ae vae:beta=4,steps=500 --out /tmp/bench

Each argument is a family name, optionally with settings: `name:key=value,key=value` (family
settings on top of the family's preset for --size, or training settings such as batch_size).
The data is built here: scikit-learn's digits upscaled to --size px (engines/data/toy.py),
10% held out for validation exactly as the training loop does it. "val bits/dim" is what the
family's validate() reports: exact for flows and PixelCNN, the negative ELBO (an upper bound) for
VAEs; families without a likelihood print "-" and their other measures.

Sample quality: a small CNN classifier is trained on the real training digits first (a few
seconds); samples are scored by the Fréchet distance between their and the held-out real images'
features in that classifier's penultimate layer ("FD", lower is better; real training images
scored the same way give the floor),
and by the share of samples it classifies with confidence above 0.9 ("sure", higher is better).
For conditional families "match" is the share classified as the label they were asked for.
Grids are written to --out as PNGs so a person can look.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engines import registry  # noqa: E402
from engines.config import field_infos, replace_checked  # noqa: E402
from engines.data import ImageDataset  # noqa: E402
from engines.data.toy import digit_images  # noqa: E402
from engines.imaging import make_grid, save_png  # noqa: E402
from engines.train import events as ev  # noqa: E402
from engines.train.loop import Control, Trainer, TrainSettings  # noqa: E402


def digit_dataset(size: int, copies: int) -> ImageDataset:
    images, labels = digit_images(size, copies)
    return ImageDataset(images[..., None], labels, [str(d) for d in range(10)], sources=["<digits>"])


class DigitClassifier(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, 16, 3, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(32 * 16, 128), nn.ReLU())
        self.head = nn.Linear(128, 10)

    def forward(self, x):
        return self.head(self.features(x))


def to_float(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def train_classifier(data: ImageDataset, epochs: int = 6, seed: int = 0) -> DigitClassifier:
    torch.manual_seed(seed)
    model = DigitClassifier(data.channels)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    x, y = to_float(data.images), torch.from_numpy(data.labels)
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        for idx in np.array_split(rng.permutation(len(x)), max(1, len(x) // 64)):
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


@torch.no_grad()
def features_and_probs(model: DigitClassifier, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f = model.features(to_float(images))
    return f.double().numpy(), torch.softmax(model.head(f), 1).numpy()


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(Sa + Sb - 2 (Sa Sb)^1/2), the square root via eigenvalues of Sa^1/2 Sb Sa^1/2."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(sa)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    cross = np.linalg.eigvalsh(root_a @ sb @ root_a)
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(sa) + np.trace(sb) - 2 * np.sqrt(np.clip(cross, 0, None)).sum())


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    name, _, rest = spec.partition(":")
    changes = {}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"bad setting {item!r} in {spec!r}; expected key=value")
        changes[key.strip()] = value.strip()
    return name, changes


def train_for(spec: str, data: ImageDataset, seconds: float, batch_size: int, seed: int):
    name, changes = parse_spec(spec)
    family = registry.get(name)
    config = family.config_class()
    if family.preset is not None:
        config = family.preset(config, data.size)
    train_keys = {i.name for i in field_infos(TrainSettings)}
    family_keys = {i.name for i in field_infos(family.config_class)}
    settings = TrainSettings(steps=10_000_000, batch_size=batch_size, seed=seed, device="cpu", log_every=10,
                             sample_every=0, checkpoint_every=0, validate_every=0, monitor_every=0,
                             val_fraction=0.1)
    settings = replace_checked(settings, **{k: v for k, v in changes.items() if k in train_keys - family_keys})
    config = replace_checked(config, **{k: v for k, v in changes.items() if k not in train_keys - family_keys})
    trainer = Trainer.new(name, config, settings, data, None)
    control = Control()
    t0 = time.perf_counter()
    last = None
    for e in trainer.run(control):
        if isinstance(e, ev.Failed):
            raise SystemExit(f"{spec} failed: {e.message}")
        if isinstance(e, ev.Progress):
            last = e
            if time.perf_counter() - t0 >= seconds:
                control.request_stop()
    elapsed = time.perf_counter() - t0
    return trainer, elapsed, last


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("families", nargs="*", default=["vae"], help="family[:key=value,...] to train, in turn (default vae)")
    ap.add_argument("--seconds", type=float, default=120, help="wall time per family (default 120)")
    ap.add_argument("--size", type=int, default=28)
    ap.add_argument("--copies", type=int, default=2, help="digit copies (2: about 3.6k images)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a busy machine)")
    ap.add_argument("--samples", type=int, default=500, help="samples scored per family")
    ap.add_argument("--out", default="benchmark_out", help="folder for the sample grids")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes and a second or two of work: checks the script still runs (the suite runs it)")
    args = ap.parse_args()
    if args.smoke:
        args.seconds, args.size, args.copies, args.samples, args.batch_size = 1, 12, 1, 20, 16
        args.families = args.families[:1]
        from benchmarks._results import scratch_folder
        args.out = str(scratch_folder("likelihood-smoke-"))  # removed at exit
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    data = digit_dataset(args.size, args.copies)
    train_part, val_part = data.split(0.1, seed=args.seed)
    t0 = time.perf_counter()
    classifier = train_classifier(train_part)
    val_feats, val_probs = features_and_probs(classifier, val_part.images)
    accuracy = float((val_probs.argmax(1) == val_part.labels).mean())
    # the floor: real training images, as many as the samples scored, against the same held-out set
    pick = np.random.default_rng(args.seed).choice(len(train_part), min(args.samples, len(train_part)), replace=False)
    real_feats, real_probs = features_and_probs(classifier, train_part.images[pick])
    print(f"data: {data.summary()}; judge classifier: {accuracy:.1%} held-out accuracy "
          f"({time.perf_counter() - t0:.0f}s); real training images: FD {frechet_distance(real_feats, val_feats):.2f}, "
          f"sure {float((real_probs.max(1) > 0.9).mean()):.0%}")
    print(f"{'family':34s} {'steps':>6s} {'time':>6s} {'val bits/dim':>12s} {'FD':>7s} {'sure':>5s} {'match':>5s}  other measures")
    for spec in args.families:
        trainer, elapsed, last = train_for(spec, data, args.seconds, args.batch_size, args.seed)
        engine = trainer.engine
        measures = engine.validate(trainer.val_batches())
        labels = np.arange(args.samples) % 10 if getattr(engine, "conditional", False) else None
        images = engine.sample(args.samples, seed=args.seed + 7, labels=labels)
        feats, probs = features_and_probs(classifier, images)
        fd = frechet_distance(feats, val_feats)
        sure = float((probs.max(1) > 0.9).mean())
        match = f"{float((probs.argmax(1) == labels).mean()):.0%}" if labels is not None else "-"
        grid_labels = None if labels is None else labels[:100]
        save_png(make_grid(images[:100], columns=10 if grid_labels is not None else None),
                 out / f"{spec.replace(':', '_').replace('=', '-').replace(',', '_')}.png", scale=2)
        bpd = measures.pop("bits_per_dim", None)
        other = "  ".join(f"{k} {v:.4g}" for k, v in measures.items())
        print(f"{spec:34s} {trainer.step:6d} {elapsed:5.0f}s {'-' if bpd is None else f'{bpd:.3f}':>12} "
              f"{fd:7.2f} {sure:5.0%} {match:>5s}  {other}", flush=True)


if __name__ == "__main__":
    from benchmarks._results import record_run  # its figures go to benchmarks/results/likelihood_families.json
    sys.exit(record_run("likelihood_families", main))
