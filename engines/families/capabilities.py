"""What a trained model can do beyond training, declared by its family and queried one way.

A family declares a capability by inheriting its interface:

    class VAEEngine(Engine, Sampler, LatentCodec, Likelihood): ...

and everything else asks through this module, never by probing attributes:

    capabilities.has(engine_or_class, "latent")      # True / False
    capabilities.of(engine_or_class)                 # ("sample", "latent", "likelihood")
    capabilities.why_not(engine_or_class, "latent")  # a sentence for a disabled control or a CLI error

| name        | interface     | what it offers                                                           |
|-------------|---------------|--------------------------------------------------------------------------|
| sample      | Sampler       | sample(n, seed, labels, progress) -> uint8 (n, H, W, C)                 |
| latent      | LatentCodec   | random_latents, decode, render (differentiable), encode when `encoding` |
|             |               | is not "projection" (projection optimises the latent through render)      |
| path        | DenoisingPath | sample_path (intermediate images of a sequential sampler), sampling_times |
| translate   | Translator    | translate(images, direction) -> uint8 images of the other domain        |
| likelihood  | Likelihood    | bits_per_dim(images) -> float per image (exact, or a bound: `exact`)    |
| inpaint     | Inpainter     | inpaint(images, mask, seed, progress) -> uint8 with the known pixels kept |
| stylemix    | StyleMixer    | style_mix(row_seeds, col_seeds, level) -> the paper's style-mixing grid  |
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable, ClassVar

import numpy as np
import torch

ProgressFn = Callable[[int, int], None]


class Capability(ABC):
    """Base of every capability interface; `name` is the word used by has()/of()/why_not()."""
    name: ClassVar[str] = ""


class Sampler(Capability):
    name = "sample"

    @abstractmethod
    def sample(self, n: int, seed: int, labels: np.ndarray | None = None,
               progress: ProgressFn | None = None) -> np.ndarray:
        """uint8 (n, H, W, C). Same seed, same images; never touches the global RNG."""


class LatentCodec(Capability):
    name = "latent"
    # How real images reach the latent space, in words: "encoder", "exact inverse of the flow",
    # "DDIM inversion", or "projection" (optimising the latent until render() reproduces the image).
    encoding: ClassVar[str] = "encoder"
    # decode()/render() of conditional runs accept class weights (n, num_classes) as `labels`
    class_mixing: ClassVar[bool] = False

    @abstractmethod
    def random_latents(self, n: int, seed: int) -> torch.Tensor:
        """Latents drawn from the prior (what sample() decodes)."""

    @abstractmethod
    def decode(self, latents: torch.Tensor) -> np.ndarray:
        """Latents -> uint8 images (n, H, W, C)."""

    def encode(self, images: np.ndarray) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} reaches its latent space by {self.encoding}")

    def render(self, latents: torch.Tensor) -> torch.Tensor:
        """Differentiable latents -> images in [-1, 1], (B, C, H, W); needed for projection."""
        raise NotImplementedError(f"{type(self).__name__} cannot render latents differentiably")


class DenoisingPath(Capability):
    name = "path"

    @abstractmethod
    def sample_path(self, n: int, seed: int, labels: np.ndarray | None = None, keep_steps: int = 8,
                    progress: ProgressFn | None = None):
        """(frames, steps): the images along the sampler's way from noise to samples."""

    @abstractmethod
    def sampling_times(self, step_counts=(10, 25, 50, 100), n: int = 4, seed: int = 0) -> list[tuple[int, float]]:
        """Seconds per image for several sampler step counts."""


class Translator(Capability):
    name = "translate"
    # direction names this model translates in, e.g. ("a2b", "b2a"); the first is the default
    directions: ClassVar[tuple[str, ...]] = ("a2b",)

    @abstractmethod
    def translate(self, images: np.ndarray, direction: str | None = None,
                  progress: ProgressFn | None = None) -> np.ndarray:
        """uint8 (n, H, W, C_source) at the model's size -> uint8 (n, H, W, C_target)."""

    def channels_of(self, direction: str) -> tuple[int, int]:
        """(source channels, target channels) for `direction`."""
        c = self.data.channels  # type: ignore[attr-defined]
        return c, c


class Likelihood(Capability):
    name = "likelihood"
    exact: ClassVar[bool] = True   # False: an upper bound (a VAE's ELBO)

    @abstractmethod
    def bits_per_dim(self, images: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        """float64 (n,) bits per dimension of each uint8 image (n, H, W, C) at the model's size
        (`labels`: class indices for conditional runs). Repeatable: fixed noise where any is used."""


class Inpainter(Capability):
    name = "inpaint"

    @abstractmethod
    def inpaint(self, images: np.ndarray, mask: np.ndarray, seed: int = 0,
                progress: ProgressFn | None = None) -> np.ndarray:
        """Fill the pixels where `mask` (n, H, W) is True; known pixels come back unchanged."""


class StyleMixer(Capability):
    name = "stylemix"
    # level name ("coarse", "middle", "fine") -> the synthesis layers it covers (empty: none at this size)
    levels: dict[str, list[int]]

    @abstractmethod
    def style_mix(self, row_seeds: list[int], col_seeds: list[int], level: str) -> np.ndarray:
        """The style-mixing grid: rows take `level` styles from their seed, the rest from the column's."""


INTERFACES: dict[str, type[Capability]] = {c.name: c for c in
                                           (Sampler, LatentCodec, DenoisingPath, Translator, Likelihood, Inpainter,
                                            StyleMixer)}

def _cls(x) -> type:
    return x if isinstance(x, type) else type(x)


def has(x, name: str) -> bool:
    """Whether an engine (or engine class) offers capability `name`."""
    try:
        return issubclass(_cls(x), INTERFACES[name])
    except KeyError:
        raise ValueError(f"unknown capability {name!r}; known: {', '.join(INTERFACES)}") from None


def of(x) -> tuple[str, ...]:
    """Every capability an engine (or engine class) offers, in the table's order."""
    return tuple(n for n in INTERFACES if has(x, n))


_WHAT = {"sample": "samples", "latent": "latent space", "path": "a denoising path to show",
         "translate": "a translation between image sets", "likelihood": "a likelihood",
         "inpaint": "an inpainting method", "stylemix": "per-layer styles to mix"}


def why_not(x, name: str) -> str:
    """One sentence saying why `name` is unavailable (empty when it is available)."""
    if has(x, name):
        return ""
    family = getattr(_cls(x), "family", "") or _cls(x).__name__
    sentence = f"{family} has no {_WHAT[name]}"
    others = [n for n in ("translate", "sample", "latent") if n != name and has(x, n)]
    if name in ("sample", "latent") and "translate" in others:
        return f"{sentence}: use Translate"
    return sentence
