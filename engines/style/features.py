"""Feature networks for style transfer, none of them downloaded.

A feature network maps images (B, 3, H, W) in [0, 1] to named feature maps; style transfer matches
the Gram matrices of `style_layers` and the maps of `content_layer`. Three sources:

* ``random`` (the default): a fixed, seeded multi-scale network of random convolution filters.
  Shallow random networks synthesise textures surprisingly well (Ustyuzhaninov et al., ICLR 2017;
  He et al., NeurIPS 2016). What makes them work here: plain Gaussian filters (tried zero-mean ones:
  they see only edges, and the optimisation filled every region with pixel-sized colour speckle;
  with plain filters flat colour counts too and the strokes come out coherent), a ReLU after every
  conv, average pooling between five scales, a 3x3 + 5x5 mix of kernels, and the same network run
  again on the image at half size, whose Grams ask for larger structures.
* a trained genstudio run (`ModuleFeatures.from_run`): the conv layers of its encoder (AE, VAE) or
  discriminator (GANs), applied at several image scales so their small receptive fields still see
  large structures. A classifier trained on a labelled folder (engines.quality.FeatureSpace) works
  the same way through `ModuleFeatures.from_classifier`.
* a VGG-19 safetensors file the person has (`VGG19Features.from_file`), in torchvision's layout:
  ``features.{0,2,5,7,10,12,14,16,19,21,23,25,28,30,32,34}.{weight,bias}`` (conv weights
  (out, in, 3, 3): 64, 64, 128, 128, 256 x4, 512 x4, 512 x4); any other tensors (the classifier,
  ``classifier.*``) are ignored, and the ``features.`` prefix may be missing. Inputs are normalised
  with ImageNet's mean and std as torchvision's weights expect. Content: conv4_2; style: conv1_1,
  conv2_1, conv3_1, conv4_1, conv5_1 (Gatys et al., 2016). Convert a PyTorch checkpoint once with
  ``safetensors.torch.save_file(vgg19().state_dict(), "vgg19.safetensors")``; pickles are never read.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Protocol

import torch
from torch import nn
from torch.nn import functional as F

FEATURE_CHOICES_HELP = (
    "random: a fixed, seeded network of random filters (no training, no download; good at texture and "
    "colour, softer on fine structure). RUN folder: the conv layers of a trained genstudio run "
    "(AE/VAE encoder, GAN discriminator) - features of your own data. FILE.safetensors: VGG-19 weights "
    "you have (torchvision layout) - the classic Gatys features.")


class FeatureError(ValueError):
    """The features asked for cannot be used (wrong file, unsuitable run); the message is for a person."""


class Features(nn.Module):
    """Base class: forward(x in [0, 1], (B, 3, H, W)) -> {layer name: (B, C, h, w)}."""

    content_layer: str = ""
    style_layers: tuple[str, ...] = ()
    description: str = ""      # for the UI and figure captions ("random features, seed 0")

    def layers_needed(self) -> set[str]:
        return {self.content_layer, *self.style_layers}


# --- random ---------------------------------------------------------------------------------------

class RandomFeatures(Features):
    """Five scales of random filters with ReLU and average pooling between scales, on an image pyramid."""

    def __init__(self, seed: int = 0, widths: tuple[int, ...] = (32, 64, 128, 192, 256), gain: float = 1.0,
                 pyramid: tuple[int, ...] = (1, 2), zero_mean: bool = False):
        super().__init__()
        gen = torch.Generator().manual_seed(int(seed))
        self.stages = nn.ModuleList()
        ch = 3
        for i, w in enumerate(widths):
            # Half the filters 3x3, half 5x5 (padded to 5x5): two reaches per scale.
            conv = nn.Conv2d(ch, w, 5, padding=2, padding_mode="replicate")  # any size, even 1 px
            weight = torch.randn(w, ch, 5, 5, generator=gen)
            weight[: w // 2, :, [0, 4], :] = 0
            weight[: w // 2, :, :, [0, 4]] = 0
            if zero_mean:
                weight -= weight.sum(dim=(1, 2, 3), keepdim=True) / (weight != 0).sum(dim=(1, 2, 3), keepdim=True) \
                    * (weight != 0)
            # Each filter has norm sqrt(2 * gain): a ReLU after it keeps the activations' scale.
            weight *= math.sqrt(2.0 * gain) / weight.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
            conv.weight.data.copy_(weight)
            conv.bias.data.zero_()
            self.stages.append(conv)
            ch = w
        for p in self.parameters():
            p.requires_grad_(False)
        self.names = tuple(f"scale{i + 1}" for i in range(len(widths)))
        self.pyramid = pyramid
        self.content_layer = self.names[min(3, len(widths) - 1)]
        self.style_layers = self.names + tuple(f"{n}@{p}" for p in pyramid if p != 1 for n in self.names)
        self.description = f"random features (seed {seed})"

    def _net(self, h: torch.Tensor, suffix: str, out: dict) -> None:
        for i, (name, conv) in enumerate(zip(self.names, self.stages)):
            if i:
                h = F.avg_pool2d(h, 2, ceil_mode=True)
            h = F.relu(conv(h))
            out[name + suffix] = h

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        h = (x - 0.5) * 2.0
        for p in self.pyramid:
            if p == 1:
                self._net(h, "", out)
            elif min(h.shape[-2:]) >= 2 * p:
                self._net(F.avg_pool2d(h, p, ceil_mode=True), f"@{p}", out)
        return out


# --- VGG-19 from a safetensors file ----------------------------------------------------------------

_VGG_CONVS = [  # (torchvision index, name, in, out)
    (0, "conv1_1", 3, 64), (2, "conv1_2", 64, 64),
    (5, "conv2_1", 64, 128), (7, "conv2_2", 128, 128),
    (10, "conv3_1", 128, 256), (12, "conv3_2", 256, 256), (14, "conv3_3", 256, 256), (16, "conv3_4", 256, 256),
    (19, "conv4_1", 256, 512), (21, "conv4_2", 512, 512), (23, "conv4_3", 512, 512), (25, "conv4_4", 512, 512),
    (28, "conv5_1", 512, 512), (30, "conv5_2", 512, 512), (32, "conv5_3", 512, 512), (34, "conv5_4", 512, 512),
]
VGG19_TENSOR_NAMES = tuple(f"features.{i}.{kind}" for i, *_ in _VGG_CONVS for kind in ("weight", "bias"))
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


class VGG19Features(Features):
    """VGG-19's conv layers up to conv5_1 (later ones are not needed), max pooling replaced by average."""

    def __init__(self, tensors: dict[str, torch.Tensor], description: str = "VGG-19"):
        super().__init__()
        self.convs = nn.ModuleDict()
        self._order: list[tuple[str, bool]] = []   # (name, pool before)
        last_block = 1
        for idx, name, cin, cout in _VGG_CONVS[:13]:
            conv = nn.Conv2d(cin, cout, 3, padding=1)
            conv.weight.data.copy_(tensors[f"features.{idx}.weight"].float())
            conv.bias.data.copy_(tensors[f"features.{idx}.bias"].float())
            block = int(name[4])
            self._order.append((name, block != last_block))
            last_block = block
            self.convs[name] = conv
        for p in self.parameters():
            p.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1))
        self.content_layer = "conv4_2"
        self.style_layers = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
        self.description = description

    @classmethod
    def from_file(cls, path: str | Path) -> "VGG19Features":
        path = Path(path).expanduser()
        if not path.is_file():
            raise FeatureError(f"{path} is not a file")
        if path.suffix.lower() != ".safetensors":
            raise FeatureError(f"{path.name}: weights are read from .safetensors files only (never pickles); "
                               "convert once with safetensors.torch.save_file(model.state_dict(), 'vgg19.safetensors')")
        from safetensors import SafetensorError, safe_open

        tensors: dict[str, torch.Tensor] = {}
        try:
            with safe_open(str(path), framework="pt") as fh:
                keys = list(fh.keys())
                strip = not any(k.startswith("features.") for k in keys)
                for key in keys:
                    name = f"features.{key}" if strip else key
                    if name in VGG19_TENSOR_NAMES[:26]:
                        tensors[name] = fh.get_tensor(key)
        except (SafetensorError, OSError, ValueError) as exc:
            raise FeatureError(f"{path.name} is not a readable safetensors file ({str(exc)[:100]})") from None
        missing = [n for n in VGG19_TENSOR_NAMES[:26] if n not in tensors]
        if missing:
            raise FeatureError(f"{path.name} does not hold VGG-19 weights in torchvision's layout: "
                               f"{len(missing)} tensors missing (first: {missing[0]}); expected "
                               f"features.0.weight ... features.28.bias")
        for idx, name, cin, cout in _VGG_CONVS[:13]:
            for kind, shape in (("weight", (cout, cin, 3, 3)), ("bias", (cout,))):
                t = tensors[f"features.{idx}.{kind}"]
                if tuple(t.shape) != shape:
                    raise FeatureError(f"{path.name}: features.{idx}.{kind} ({name}) has shape {tuple(t.shape)}, "
                                       f"VGG-19 needs {shape}")
                if not t.is_floating_point() or not torch.isfinite(t).all():
                    raise FeatureError(f"{path.name}: features.{idx}.{kind} is not finite floating-point data")
        return cls(tensors, f"VGG-19 ({path.name})")

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = (x - self.mean) / self.std
        out = {}
        for name, pool in self._order:
            if pool:
                h = F.avg_pool2d(h, 2, ceil_mode=True)
            h = F.relu(self.convs[name](h))
            out[name] = h
        return out


# --- a trained network (a run's encoder or discriminator, a classifier) -----------------------------

class _Enough(Exception):
    """Raised by the last hook: the layers after it (flatten, linear heads) are not needed."""


class ModuleFeatures(Features):
    """The conv layers of a trained module, read by forward hooks, at several image scales.

    The module is called on images in [-1, 1] with its own channel count (grey runs see luminance);
    its forward stops after the last conv, so heads that need the training size never run. Each
    conv's output (after a ReLU) at scale s is layer "convK@s"; content is the deepest conv at full
    scale, style every conv at every scale.
    """

    def __init__(self, module: nn.Module, channels: int, description: str, scales: tuple[int, ...] = (1, 2, 4),
                 call=None):
        super().__init__()
        self.net = module
        self.channels = channels
        self.scales = scales
        self._call = call or (lambda m, x: m(x))
        self.convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
        if not self.convs:
            raise FeatureError(f"{description} has no convolution layers to take features from")
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.net.eval()
        names = [f"conv{i + 1}" for i in range(len(self.convs))]
        self.content_layer = f"{names[-1]}@1" if len(names) < 3 else f"{names[-2]}@1"
        self.style_layers = tuple(f"{n}@{s}" for s in scales for n in names)
        self.description = description

    def _one_scale(self, x: torch.Tensor, scale: int) -> dict[str, torch.Tensor]:
        got: dict[str, torch.Tensor] = {}
        handles = []

        def hook(i):
            def fn(_m, _inp, out):
                got[f"conv{i + 1}@{scale}"] = F.relu(out)
                if i == len(self.convs) - 1:
                    raise _Enough
            return fn

        for i, conv in enumerate(self.convs):
            handles.append(conv.register_forward_hook(hook(i)))
        try:
            self._call(self.net, x)
        except _Enough:
            pass
        except RuntimeError:
            # A coarse scale can be too small for a deep layer (a GAN discriminator's last 4x4 conv
            # on a 2x2 map): keep the layers it reached; callers use the layers they get.
            if not got:
                raise
        finally:
            for h in handles:
                h.remove()
        return got

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = x * 2.0 - 1.0
        if self.channels == 1:
            h = (0.299 * h[:, :1] + 0.587 * h[:, 1:2] + 0.114 * h[:, 2:3])
        out: dict[str, torch.Tensor] = {}
        for s in self.scales:
            xs = h if s == 1 else F.avg_pool2d(h, s, ceil_mode=True)
            if min(xs.shape[-2:]) < 4:
                break
            out.update(self._one_scale(xs, s))
        return out

    def layers_needed(self) -> set[str]:
        return set()   # every hook fires anyway

    @classmethod
    def from_run(cls, run_path: str | Path) -> "ModuleFeatures":
        if _RUNS is None:
            raise FeatureError("features from a run need the run service (import engines.train first)")
        engine, record = _RUNS.load(run_path)
        modules = engine.modules()
        for key in ("encoder", "discriminator", "D", "critic"):
            if key in modules and any(isinstance(m, nn.Conv2d) for m in modules[key].modules()):
                module = modules[key]
                break
        else:
            raise FeatureError(f"a {record['family']} run has no conv encoder or discriminator to take features "
                               f"from; use an AE, VAE or GAN run (conv architecture)")
        module = module.float().cpu()

        def call(m, x):
            try:
                return m(x)
            except TypeError:          # conditional modules take labels too; features do not need them
                return m(x, torch.zeros(x.shape[0], dtype=torch.long))

        name = Path(run_path).name
        return cls(module, engine.data.channels, f"{record['family']} run {name} ({key})", call=call)

    @classmethod
    def from_classifier(cls, space) -> "ModuleFeatures":
        """The conv layers of an engines.quality.FeatureSpace classifier trained on labelled images."""
        return cls(space.net.body, space.channels, "classifier of the labelled images")


class RunService(Protocol):
    """How a run folder or exported model file becomes an engine: provided from above (engines.train
    registers it when imported), since these features sit below the layer that loads runs."""

    def load(self, path: str | Path) -> tuple[object, dict]:
        """(engine, run record); FeatureError when it cannot be loaded."""

    def is_model_file(self, path: Path) -> bool:
        """Whether a .safetensors file is a model exported by genstudio (not a weights file)."""


_RUNS: RunService | None = None


def set_run_service(service: RunService) -> None:
    global _RUNS
    _RUNS = service


def _is_genstudio_model(path: Path) -> bool:
    return _RUNS is not None and _RUNS.is_model_file(path)


def load_features(choice: str = "random", seed: int = 0) -> Features:
    """'random', a path to a .safetensors file, or a run folder (or exported model file)."""
    choice = (choice or "random").strip()
    if choice == "random":
        return RandomFeatures(seed)
    path = Path(choice).expanduser()
    if path.suffix.lower() == ".safetensors":
        if _is_genstudio_model(path):      # a model exported by `genstudio export`: its networks' features
            return ModuleFeatures.from_run(path)
        return VGG19Features.from_file(path)
    if path.is_dir() or path.suffix.lower() == ".json":
        return ModuleFeatures.from_run(path)
    if not path.exists():
        raise FeatureError(f"features {choice!r}: not 'random', and no such file or run folder")
    raise FeatureError(f"features {choice!r}: give 'random', a VGG-19 .safetensors file or a run folder")
