"""What a trained model can do beyond training, declared by its family and queried one way.

A family declares a capability (or a role: the surface the tools, export and panels use) by
inheriting its interface:

    class VAEEngine(Engine, Sampler, LatentCodec, Likelihood, LatentRenderer, Reconstructor, Exportable): ...

and everything else asks through this module, never by class or by probing attributes:

    capabilities.has(engine_or_class, "latent")      # True / False
    capabilities.of(engine_or_class)                 # ("sample", "latent", "likelihood", ...)
    capabilities.why_not(engine_or_class, "latent")  # a sentence for a disabled control or a CLI error

Every method that draws takes `labels` (class indices, None: the family's default) and every
sequential one `progress(done, total)`, which may raise Cancelled to stop.

| name           | interface      | what it offers                                                            |
|----------------|----------------|---------------------------------------------------------------------------|
| sample         | Sampler        | sample(n, seed, labels, progress) -> uint8 (n, H, W, C)                  |
| latent         | LatentCodec    | random_latents, decode(latents, labels, progress), render (differentiable), |
|                |                | encode(images, labels, progress) when `encoding` is not "projection"      |
| path           | DenoisingPath  | sample_path (intermediate images of a sequential sampler), sampling_times |
| translate      | Translator     | translate(images, direction) -> uint8 images of the other domain         |
| likelihood     | Likelihood     | bits_per_dim(images, labels) -> float per image (exact, or a bound: `exact`); |
|                |                | labels None on a conditional run: the class summed out; `likelihood_note` |
| stylemix       | StyleMixer     | style_mix(row_seeds, col_seeds, level) -> the paper's style-mixing grid   |
| prior          | Prior          | a diffusion/flow prior: x_t = a(t) x0 + s(t) eps in its space (pixels or  |
|                |                | a latent space: to_space/from_space), noise_level(t), prior_times(),      |
|                |                | denoiser(labels, guidance) -> (x_t, t) -> prediction, prediction_target,  |
|                |                | prior_sampler(steps, start, deterministic) (timesteps, previous, step)    |
| autoregressive | Autoregressive | to_sequence(images), sequence_log_probs(seq, labels, positions),        |
|                |                | token_log_probs(seq, labels), sample_sequence(...                          |
|                |                | known, fixed ...), to_images(seq); `temperature`                          |
| renderer       | LatentRenderer | latent_shape(), differentiable render_u(u, labels) from standard-normal u, |
|                |                | encode_u(images, labels) when `renders_encoded` (a starting point)        |
| reconstruct    | Reconstructor  | reconstruct(images, labels, progress) -> uint8: encode, then decode      |
| energy         | Energy         | energy(x, labels) -> (B,), langevin(x, steps, noise, known, values, ...) |
| export         | Exportable     | export_network(batch) -> ExportedNetwork (module, example inputs, about)  |

The tools (engines/tools/) are pipelines over these roles: a family that declares one gets every
tool method built on it, with no tool code of its own.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable, ClassVar, Protocol, Sequence

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
    def decode(self, latents: torch.Tensor, labels: np.ndarray | None = None,
               progress: ProgressFn | None = None) -> np.ndarray:
        """Latents -> uint8 images (n, H, W, C); `labels` for conditional runs (None: the family's default)."""

    def encode(self, images: np.ndarray, labels: np.ndarray | None = None,
               progress: ProgressFn | None = None) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} reaches its latent space by {self.encoding}")

    def render(self, latents: torch.Tensor, labels=None) -> torch.Tensor:
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
        """float64 (n,) bits per dimension of each uint8 image (n, H, W, C) at the model's size.
        `labels`: class indices for conditional runs; None on a conditional run scores p(x) with the
        class summed out (uniform over classes). Repeatable: fixed noise where any is used."""

    @property
    def likelihood_note(self) -> str:
        """What a person should know beside the figure (e.g. over which values it is counted); may be empty."""
        return "" if self.exact else "bits_per_dim is the negative ELBO: an upper bound on the true value"


class StyleMixer(Capability):
    name = "stylemix"
    # level name ("coarse", "middle", "fine") -> the synthesis layers it covers (empty: none at this size)
    levels: dict[str, list[int]]

    @abstractmethod
    def style_mix(self, row_seeds: list[int], col_seeds: list[int], level: str) -> np.ndarray:
        """The style-mixing grid: rows take `level` styles from their seed, the rest from the column's."""


# --- roles: what the tools and export build on ----------------------------------------------------

END = -1  # the time after the last sampler step: the clean data (noise_level(END) == (1, 0))


class PriorSampler(Protocol):
    """One reverse process over a time grid (engines/diffusion/samplers.Scheduler has this shape)."""
    timesteps: list                  # noisiest first
    label: str                       # what the person is told ("DDIM", "ancestral", "Euler")

    def previous(self, t) -> object:
        """The time a step from t lands on (END after the last)."""

    def step(self, output: torch.Tensor, t, x: torch.Tensor,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """x at t and the denoiser's output there -> x at previous(t)."""


class Prior(Capability):
    """A diffusion or flow model over a space: x_t = a(t) x0 + s(t) eps with eps ~ N(0, I).

    The space is the pixels on [-1, 1] (`prior_space` "pixels") or a latent space ("latent":
    to_space/from_space go through the family's first stage). Times are whatever the family uses
    (training step indices, or flow times); tools only pass them back and ask noise_level(t)."""
    name = "prior"
    prior_space: ClassVar[str] = "pixels"

    @property
    @abstractmethod
    def prediction(self) -> str:
        """What the denoiser predicts: "eps", "v" or "velocity"."""

    @abstractmethod
    def prior_shape(self) -> tuple[int, ...]:
        """(C, H, W) of x in the prior's space."""

    @abstractmethod
    def to_space(self, images: np.ndarray) -> torch.Tensor:
        """uint8 (n, H, W, C) -> x0 (n, C, h, w) in the prior's space, on the engine's device."""

    @abstractmethod
    def from_space(self, x: torch.Tensor, labels: np.ndarray | None = None,
                   progress: ProgressFn | None = None) -> np.ndarray:
        """x0 in the prior's space -> uint8 (n, H, W, C)."""

    @abstractmethod
    def prior_times(self) -> Sequence:
        """Every time the model was trained at, the least noisy first."""

    @abstractmethod
    def noise_level(self, t) -> tuple[float, float]:
        """(a, s) at time t: x_t = a x0 + s eps; (1, 0) at END."""

    @abstractmethod
    def denoiser(self, labels: np.ndarray | None = None,
                 guidance: float | None = None) -> Callable[[torch.Tensor, object], torch.Tensor]:
        """(x_t, t) -> the network's prediction. `labels`: class indices of a conditional run, guided
        with `guidance` (None: the run's sampling option); None: the unconditional model."""

    @abstractmethod
    def prediction_target(self, x0: torch.Tensor, noise: torch.Tensor, t) -> torch.Tensor:
        """What the denoiser should output at x_t = a(t) x0 + s(t) noise (its training target)."""

    @abstractmethod
    def prior_sampler(self, steps: int | None = None, start=None, deterministic: bool = False) -> PriorSampler:
        """A fresh sampler over `steps` times (None: the sampling option) from `start` (a time; None:
        pure noise) to the data; deterministic: no fresh noise along the way (DDIM at eta 0, an ODE)."""


class Autoregressive(Capability):
    """A model of a token sequence read in raster order (subpixels, quantised pixels)."""
    name = "autoregressive"
    temperature: float                   # the sampling temperature (the logits are divided by it)

    @abstractmethod
    def to_sequence(self, images: np.ndarray) -> torch.Tensor:
        """uint8 (n, H, W, C) -> tokens (n, L), int64, raster order; L is a multiple of H * W (the
        tokens of one pixel are consecutive). Raises ValueError when this run's tokens are not pixels."""

    @abstractmethod
    def to_images(self, seq: torch.Tensor) -> np.ndarray:
        """tokens (n, L) -> uint8 (n, H, W, C)."""

    @abstractmethod
    def sequence_log_probs(self, seq: torch.Tensor, labels: torch.Tensor | None = None,
                           positions: Sequence[int] | None = None) -> torch.Tensor:
        """(n, P, V) log-probabilities of every token value at `positions` (None: all L) given the
        tokens before each (one pass, temperature 1). `labels`: class indices (n,) of a conditional run."""

    def token_log_probs(self, seq: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """(n, L) log-probability of each token of `seq` given those before it (their sum: the sequence's)."""
        return self.sequence_log_probs(seq, labels).gather(-1, seq[..., None])[..., 0]

    @abstractmethod
    def sample_sequence(self, n: int, generator: torch.Generator, labels: torch.Tensor | None = None,
                        known: torch.Tensor | None = None, fixed: torch.Tensor | None = None,
                        progress: ProgressFn | None = None) -> torch.Tensor:
        """(n, L) tokens drawn one at a time at the sampling temperature; where `fixed` (n, L) is True
        the token of `known` is kept (conditioning on it for what follows)."""


class LatentRenderer(Capability):
    """A differentiable map from standard-normal latents u to images: what latent fitting needs."""
    name = "renderer"
    renders_encoded: ClassVar[bool] = False   # encode_u gives a starting point for fitting

    @abstractmethod
    def latent_shape(self) -> tuple[int, ...]:
        """Shape of one u (without the batch)."""

    @abstractmethod
    def render_u(self, u: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Differentiable u (B, *latent_shape) -> images in [-1, 1] (B, C, H, W); `labels` (B,) class indices."""

    def encode_u(self, images: np.ndarray, labels: np.ndarray | None = None) -> torch.Tensor:
        """uint8 images -> u (only where `renders_encoded`)."""
        raise NotImplementedError(f"{type(self).__name__} has no encoder to start a latent fit from")


class Reconstructor(Capability):
    """Encode, then decode: what an autoencoder does to an image."""
    name = "reconstruct"
    reconstruction: ClassVar[str] = "autoencoder"   # through what, for a person ("autoencoder", "first stage")

    @abstractmethod
    def reconstruct(self, images: np.ndarray, labels: np.ndarray | None = None,
                    progress: ProgressFn | None = None) -> np.ndarray:
        """uint8 (n, H, W, C) -> uint8 (n, H, W, C)."""


class Energy(Capability):
    """An energy over images (low on the data) with the family's Langevin sampler."""
    name = "energy"

    @abstractmethod
    def energy(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """(B,) energies of images x in [-1, 1]; conditional runs without labels sum the classes out."""

    @abstractmethod
    def langevin(self, x: torch.Tensor, steps: int | None = None, noise: float | None = None,
                 known: torch.Tensor | None = None, values: torch.Tensor | None = None,
                 generator: torch.Generator | None = None, progress: ProgressFn | None = None) -> torch.Tensor:
        """Langevin dynamics from x with the run's step size (steps, noise: None = the sampling options);
        where `known` is 1, x is reset to `values` after every step. The weights get no gradients."""


@dataclass
class ExportedNetwork:
    """The network a family exports: `module(*inputs.values())` -> `output`, with what it means."""
    module: torch.nn.Module
    inputs: dict[str, torch.Tensor]      # example inputs by name, batch first
    output: str                          # name of the output ("images", "prediction", "logits")
    about: dict = field(default_factory=dict)   # JSON-able: what the output means, ranges, schedules


class Exportable(Capability):
    name = "export"

    @abstractmethod
    def export_network(self, batch: int = 2) -> ExportedNetwork:
        """The image-making network as a plain module with example inputs of `batch` rows."""


INTERFACES: dict[str, type[Capability]] = {c.name: c for c in
                                           (Sampler, LatentCodec, DenoisingPath, Translator, Likelihood, StyleMixer,
                                            Prior, Autoregressive, LatentRenderer, Reconstructor, Energy, Exportable)}


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


_WHAT = {"sample": "samples", "latent": "latent space", "path": "denoising path to show",
         "translate": "translation between image sets", "likelihood": "likelihood",
         "stylemix": "per-layer styles to mix", "prior": "diffusion or flow prior",
         "autoregressive": "autoregressive model of pixels", "renderer": "latent to fit",
         "reconstruct": "encoder and decoder", "energy": "energy", "export": "network to export"}


def why_not(x, name: str) -> str:
    """One sentence saying why `name` is unavailable (empty when it is available)."""
    if has(x, name):
        return ""
    # an engine's own family name (a GAN recipe's "sngan") before its class's ("gan")
    family = getattr(x, "family", "") or _cls(x).__name__
    sentence = f"{family} has no {_WHAT[name]}"
    others = [n for n in ("translate", "sample", "latent") if n != name and has(x, n)]
    if name in ("sample", "latent") and "translate" in others:
        return f"{sentence}: use Translate (the panel, or `genstudio translate`)"
    return sentence
