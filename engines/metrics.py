"""Sample-quality measures on feature arrays: Fréchet distance, KID, precision / recall, density /
coverage and memorisation. Qt-free, offline, numpy + torch; rows are samples, columns features.

    report = quality_report(extractor, name, real_images, generated_images)   # everything below at once
    kid_value, kid_se = kid(real_feats, fake_feats)

- Fréchet distance: engines.quality.frechet_distance (Heusel et al. 2017), reused as is.
- KID (Binkowski et al. 2018): the unbiased estimate of the squared MMD with the cubic polynomial
  kernel k(x, y) = (x.y / d + 1)^3 over all the generated samples and (up to KID_MAX_REAL of) the
  real ones. Unbiased: it is ~0 (and can be slightly negative) for two sets from one distribution.
  Its ± is a bootstrap standard error (KID_METHOD): both sets are resampled with replacement
  (KID_BOOTSTRAP times) and the unbiased estimate recomputed, pairs of one original sample with
  itself left out so the duplicates of a resample add no bias; the ± is the standard deviation of
  those estimates. Why not the mean over random subsets with std / sqrt(subsets) (what this module
  reported before): below 1,000 samples every subset held the same generated images, so the
  subsets were not independent and that error understated the uncertainty 2-3x. torch-fidelity
  reports the standard deviation over subsets (the spread of one subset's estimate, not of their
  mean) and refuses subsets larger than the sample.
- Precision and recall (Kynkäänniemi et al. 2019): each real feature owns a ball reaching its k-th
  nearest real neighbour; precision is the share of generated samples inside some real ball
  (fidelity), recall the share of real samples inside some generated ball (diversity). k = 3, the
  paper's choice (PR_NEIGHBOURS; `k` of precision_recall).
- Density and coverage (Naeem et al. 2020): density counts how many real balls each generated
  sample falls into, / k, averaged (1 ≈ as dense as the data; above 1 piles onto crowded regions);
  coverage is the share of real balls that hold at least one generated sample (robust to outliers).
  k = 5, the paper's recommendation (DC_NEIGHBOURS; `k` of density_coverage and quality_report).
- Memorisation (this project's definition): a generated sample is "memorised" when its distance to
  the nearest training feature is below the 5th percentile of the training set's own
  nearest-neighbour distances (each training image to its nearest *other* training image). Exact
  copies (distance 0) are always flagged. Fresh draws from the data distribution score about 5% by
  construction (that is the percentile), so read it against 5%: much more means the model repeats
  training images. Only the images the model trained on count (quality_report's `train_mask`
  leaves a run's held-out split out). The nearest training image of every sample is returned, to
  be looked at.

Why not torch-fidelity: its feature-level KID and precision/recall functions would fit, but it
requires torchvision (which pins its own torch build, and pip may bring a CUDA one) for code we use
none of, its feature-array functions are internal rather than documented API, and it has no
density, coverage or memorisation. The formulas are short; they are written here from the papers
and checked against known answers in tests/engines/test_metrics.py, which also compares KID and
precision/recall with torch-fidelity on the same feature vectors when it is installed (skipped
otherwise; it is not a dependency).

Feature extractor: `extractor_for(images, labels)` gives the project's classifier of the data
(engines/quality.py) when the data has at least two classes, else a fixed random convolutional
network (seeded, built offline, nothing downloaded). Every report names the extractor it used;
figures from different extractors do not compare.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from .quality import FeatureSpace, _to_tensor, frechet_distance

PR_NEIGHBOURS = 3            # precision / recall: Kynkäänniemi et al. 2019
DC_NEIGHBOURS = 5            # density / coverage: Naeem et al. 2020 recommend 5
K_NEIGHBOURS = PR_NEIGHBOURS  # the old name
MEMORISED_PERCENTILE = 5.0
KID_BOOTSTRAP = 200
KID_MAX_REAL = 2000          # real features in the KID estimate (a seeded subset beyond that)
KID_METHOD = (f"unbiased MMD² over all samples; ± bootstrap standard error ({KID_BOOTSTRAP} resamples "
              f"of both sets)")


def _pairwise(a: np.ndarray, b: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """Euclidean distances (len(a), len(b)) in float64."""
    ta, tb = torch.from_numpy(np.asarray(a, np.float64)), torch.from_numpy(np.asarray(b, np.float64))
    return torch.cat([torch.cdist(ta[i:i + chunk], tb) for i in range(0, len(ta), chunk)]).numpy()


def _check(a: np.ndarray, b: np.ndarray, least: int = 2) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < least:
        raise ValueError(f"need two (N, D) feature arrays with N >= {least} and the same D")
    return a, b


def _cubic(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a @ b.T / a.shape[1] + 1) ** 3


def _within(kernel: np.ndarray, counts: np.ndarray) -> float:
    """Mean kernel over ordered pairs of draws that are different original samples (counts: how
    often each original sample was drawn; all ones is the plain unbiased within-set mean)."""
    total = counts @ kernel @ counts - (counts ** 2) @ np.diag(kernel)
    pairs = counts.sum() ** 2 - (counts ** 2).sum()
    return float(total / pairs)


def kid(real: np.ndarray, fake: np.ndarray, bootstrap: int = KID_BOOTSTRAP, seed: int = 0,
        max_real: int = KID_MAX_REAL) -> tuple[float, float]:
    """(unbiased squared MMD, its bootstrap standard error); see the module note (KID_METHOD).
    Up to `max_real` real features (a seeded subset beyond); every generated one."""
    real, fake = _check(real, fake)
    rng = np.random.default_rng(seed)
    if len(real) > max_real:
        real = real[np.sort(rng.choice(len(real), max_real, replace=False))]
    kxx, kyy, kxy = _cubic(real, real), _cubic(fake, fake), _cubic(real, fake)
    n, m = len(real), len(fake)

    def mmd(cx: np.ndarray, cy: np.ndarray) -> float:
        return _within(kxx, cx) + _within(kyy, cy) - 2 * float(cx @ kxy @ cy) / (cx.sum() * cy.sum())

    value = mmd(np.ones(n), np.ones(m))
    if bootstrap < 2:
        return value, float("nan")
    draws = [mmd(rng.multinomial(n, np.full(n, 1 / n)).astype(np.float64),
                 rng.multinomial(m, np.full(m, 1 / m)).astype(np.float64)) for _ in range(bootstrap)]
    return value, float(np.std(draws, ddof=1))


def kid_subsets(real: np.ndarray, fake: np.ndarray, subsets: int = 100, subset_size: int = 1000,
                seed: int = 0) -> tuple[float, float]:
    """torch-fidelity's way, for comparison: (mean, standard deviation) of the unbiased squared MMD
    over random subsets of `subset_size` of each set (refused when a set is smaller)."""
    real, fake = _check(real, fake)
    if subset_size > min(len(real), len(fake)):
        raise ValueError(f"subset size {subset_size} is larger than a set ({min(len(real), len(fake))})")
    rng = np.random.default_rng(seed)
    ones = np.ones(subset_size)
    values = []
    for _ in range(subsets):
        x = real[rng.choice(len(real), subset_size, replace=False)]
        y = fake[rng.choice(len(fake), subset_size, replace=False)]
        values.append(_within(_cubic(x, x), ones) + _within(_cubic(y, y), ones) - 2 * _cubic(x, y).mean())
    return float(np.mean(values)), float(np.std(values))


def _kth_neighbour_radius(x: np.ndarray, k: int) -> np.ndarray:
    """Distance from each row to its k-th nearest other row."""
    dist = _pairwise(x, x)
    np.fill_diagonal(dist, np.inf)
    return np.partition(dist, k - 1, axis=1)[:, k - 1]


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = PR_NEIGHBOURS) -> tuple[float, float]:
    """Kynkäänniemi et al. 2019, k-NN manifolds (k-th neighbour radii)."""
    real, fake = _check(real, fake, least=k + 1)
    r_real, r_fake = _kth_neighbour_radius(real, k), _kth_neighbour_radius(fake, k)
    d = _pairwise(fake, real)                           # (fake, real)
    precision = float((d <= r_real[None, :]).any(axis=1).mean())
    recall = float((d.T <= r_fake[None, :]).any(axis=1).mean())
    return precision, recall


def density_coverage(real: np.ndarray, fake: np.ndarray, k: int = DC_NEIGHBOURS) -> tuple[float, float]:
    """Naeem et al. 2020: density (mean real balls per generated sample / k) and coverage."""
    real, fake = _check(real, fake, least=k + 1)
    r_real = _kth_neighbour_radius(real, k)
    inside = _pairwise(fake, real) <= r_real[None, :]   # (fake, real)
    return float(inside.sum() / (k * len(fake))), float(inside.any(axis=0).mean())


@dataclass(frozen=True)
class Memorisation:
    share: float                 # generated samples closer to a training image than the threshold
    threshold: float             # the 5th percentile of train-to-train nearest-neighbour distances
    nearest: np.ndarray          # (n_fake,) index of each sample's nearest training feature
    distance: np.ndarray         # (n_fake,) that distance
    flagged: np.ndarray          # (n_fake,) bool


def memorisation(train: np.ndarray, fake: np.ndarray, percentile: float = MEMORISED_PERCENTILE) -> Memorisation:
    """See the module note. `train` should be the images the model trained on."""
    train, fake = _check(train, fake, least=2)
    own = np.empty(len(train))
    for i in range(0, len(train), 1024):  # in blocks: 5,000 training images need no 200 MB matrix
        block = _pairwise(train[i:i + 1024], train)
        block[np.arange(len(block)), i + np.arange(len(block))] = np.inf
        own[i:i + len(block)] = block.min(axis=1)
    threshold = float(np.percentile(own, percentile))
    d = _pairwise(fake, train)
    nearest = d.argmin(axis=1)
    distance = d[np.arange(len(fake)), nearest]
    # exact copies (distance 0, up to rounding) always count, even when duplicates make the threshold 0
    flagged = (distance < threshold) | (distance <= 1e-9 * max(1.0, float(np.abs(train).max())))
    return Memorisation(float(flagged.mean()), threshold, nearest, distance, flagged)


# --- feature extractors ---------------------------------------------------------------------------
class RandomFeatures:
    """A fixed, randomly initialised convolutional network as a feature extractor (no training, no
    download): for data without classes. Random conv features keep local structure (edges, blobs),
    so distances between images mean something, though less than a trained network's."""

    def __init__(self, size: int, channels: int, feature_dim: int = 64, seed: int = 0):
        self.size, self.channels, self.feature_dim, self.seed = min(size, 32), channels, feature_dim, seed
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net = nn.Sequential(
                nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(64 * 16, feature_dim)).eval()

    @property
    def name(self) -> str:
        return f"random conv features (seed {self.seed}, {self.feature_dim}-d, {self.size} px)"

    @torch.no_grad()
    def features(self, images: np.ndarray) -> np.ndarray:
        x = _to_tensor(images, self.size, self.channels)
        return torch.cat([self.net(x[i:i + 512]) for i in range(0, len(x), 512)]).double().numpy()


def classifier_name(space: FeatureSpace) -> str:
    return (f"classifier of the run's data ({space.net.head.in_features}-d penultimate layer, "
            f"{space.num_classes} classes, {space.train_accuracy:.0%} train accuracy, {space.size} px)")


def extractor_for(images: np.ndarray, labels: np.ndarray | None = None, seed: int = 0):
    """(extractor with .features(images), its name): the data's classifier when it has >= 2 classes,
    else random conv features."""
    images = np.asarray(images)
    if labels is not None and len(np.unique(labels)) >= 2:
        space = FeatureSpace.fit(images, labels, seed=seed)
        return space, classifier_name(space)
    channels = images.shape[3] if images.ndim == 4 else 1
    extractor = RandomFeatures(images.shape[1], channels, seed=seed)
    return extractor, extractor.name


# --- everything at once -------------------------------------------------------------------------
@dataclass(frozen=True)
class QualityReport:
    extractor: str
    n_real: int
    n_fake: int
    frechet: float
    kid: float
    kid_std_error: float
    precision: float
    recall: float
    density: float
    coverage: float
    memorised: float             # share of samples flagged (read against ~0.05, see the module note)
    k: int = PR_NEIGHBOURS       # precision / recall neighbours
    dc_k: int = DC_NEIGHBOURS    # density / coverage neighbours
    kid_method: str = KID_METHOD
    n_train: int = 0             # training images memorisation looked at (the held-out split left out)
    nearest: np.ndarray = field(default=None, repr=False)    # (n_fake,) nearest training image index
    flagged: np.ndarray = field(default=None, repr=False)    # (n_fake,) memorised or not

    def to_json(self) -> dict:
        out = asdict(self)
        out.pop("nearest"), out.pop("flagged")
        return out


def quality_report(extractor, name: str, train_images: np.ndarray, fake_images: np.ndarray,
                   seed: int = 0, train_features: np.ndarray | None = None,
                   train_mask: np.ndarray | None = None, dc_k: int = DC_NEIGHBOURS) -> QualityReport:
    """All measures of generated images against the real images, in one feature space.

    Precision / recall / density / coverage compare equal numbers of real and generated features (a
    seeded subset of the real ones), as the papers do; Fréchet distance and KID use them all (KID up
    to KID_MAX_REAL); memorisation looks at every image the model trained on: `train_mask` (bool per
    real image) leaves out a held-out split it never saw. `nearest` indexes the real images."""
    real = extractor.features(train_images) if train_features is None else train_features
    fake = extractor.features(fake_images)
    rng = np.random.default_rng(seed)
    equal = real[rng.choice(len(real), len(fake), replace=False)] if len(real) > len(fake) else real
    k_mean, k_se = kid(real, fake, seed=seed)
    precision, recall = precision_recall(equal, fake)
    density, coverage = density_coverage(equal, fake, k=dc_k)
    trained = np.arange(len(real)) if train_mask is None else np.flatnonzero(np.asarray(train_mask, bool))
    if len(trained) < 2:
        trained = np.arange(len(real))
    mem = memorisation(real[trained], fake)
    return QualityReport(extractor=name, n_real=len(real), n_fake=len(fake), frechet=frechet_distance(real, fake),
                         kid=k_mean, kid_std_error=k_se, precision=precision, recall=recall, density=density,
                         coverage=coverage, memorised=mem.share, dc_k=dc_k, n_train=int(len(trained)),
                         nearest=trained[mem.nearest], flagged=mem.flagged)
