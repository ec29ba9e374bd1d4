"""Typed settings of the GAN recipes (gan, dcgan, cgan, wgan-gp, sngan, sagan): one config with the
recipes as named defaults, and the presets per image size."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields, make_dataclass


from ...config import ConfigError, param
from ...nn.gan_blocks import attention_maps, parse_policy, plan_resolutions


from .losses import LOSSES


CONV = {"architecture": ("conv",)}   # settings of the convolutional nets only (forms hide them for mlp)


@dataclass(frozen=True)
class GANConfig:
    architecture: str = param("conv", choices=("conv", "mlp"), help="conv: DCGAN-shaped convolutional nets; mlp: the original fully connected GAN.")
    latent_dim: int = param(128, min=2, max=1024, help="Size of the noise vector z the generator starts from.")
    g_width: int = param(32, min=8, max=512, help="Conv generator: channels of its last hidden layer (doubles towards the start, up to 8x).", when=CONV)
    d_width: int = param(32, min=8, max=512, help="Conv discriminator: channels of its first layer (doubles with depth, up to 8x).", when=CONV)
    mlp_hidden: int = param(512, min=16, max=4096, help="MLP nets: units in each of the two hidden layers.", when={"architecture": ("mlp",)})
    loss: str = param("hinge", choices=LOSSES, help="bce: non-saturating GAN loss; hinge: SN-GAN/SAGAN; wgan-gp: Wasserstein critic with gradient penalty.")
    n_critic: int = param(1, min=1, max=10, help="Discriminator steps per generator step (5 for WGAN-GP); each training step is one D step.")
    gp_weight: float = param(10.0, min=0.0, max=1000.0, help="WGAN-GP: weight (lambda) of the gradient penalty.", when={"loss": ("wgan-gp",)})
    r1_gamma: float = param(0.0, min=0.0, max=1000.0, help="R1 penalty on D's gradient at real images (0: off); steadies D on small data.")
    spectral_norm_d: bool = param(True, help="Spectral normalisation of every discriminator layer (SN-GAN).")
    spectral_norm_g: bool = param(False, help="Spectral normalisation of the generator's layers too (SAGAN).")
    d_batch_norm: bool = param(False, help="Batch norm in the conv discriminator (classic DCGAN; off with spectral norm or WGAN-GP).", when=CONV)
    attention_at: str = param("", help="Self-attention at these feature-map sizes, comma separated (e.g. 16); empty: none (SAGAN uses one).", when=CONV)
    conditional: bool = param(False, help="Condition on subfolder labels when the data has them (class embedding in G, projection D).")
    ema_decay: float = param(0.995, min=0.0, max=0.99999, help="Samples come from a moving average of G with this decay; 0 samples the live G.")
    diffaugment: str = param("", help="DiffAugment policies applied to real and fake images for D (comma list of color, translation, cutout; empty: off). Off by default (why: README, 'Why the recipes are what they are'); turn it on for a few hundred images or long runs, where D starts memorising the data.")
    lr_g: float = param(2e-4, min=1e-6, max=1e-1, help="Generator learning rate (Adam).")
    lr_d: float = param(4e-4, min=1e-6, max=1e-1, help="Discriminator learning rate (Adam).")
    beta1: float = param(0.0, min=0.0, max=0.999, help="Adam beta1; GANs use 0.5 or 0 instead of 0.9 for stability.")
    beta2: float = param(0.9, min=0.0, max=0.9999, help="Adam beta2.")
    real_label: float = param(1.0, min=0.5, max=1.0, help="BCE loss: target for real images; below 1 is one-sided label smoothing.", when={"loss": ("bce",)})
    collapse_ratio: float = param(0.5, min=0.0, max=1.0, help="Warn of mode collapse when sample diversity falls below this share of the data's (what healthy and collapsed runs show: README, 'Why the recipes are what they are').")
    divergence_steps: int = param(200, min=10, max=1_000_000, help="Warn of divergence when D beats G outright for this many steps in a row (what healthy runs show: README, 'Why the recipes are what they are').")

    def check(self) -> None:
        check_gan_options(self)
        if self.loss == "wgan-gp" and self.d_batch_norm:
            raise ConfigError("wgan-gp needs d_batch_norm off: the gradient penalty is taken per image")

    def check_size(self, size: int) -> None:
        """A new run at `size` px: attention sizes must name feature maps the conv nets have."""
        if self.architecture == "conv":
            check_attention_at(self.attention_at, size, attention_maps(size))


def check_gan_options(config) -> None:
    """ConfigError for a bad DiffAugment policy or attention size list (any GAN config that has them)."""
    try:
        parse_policy(config.diffaugment)
    except ValueError as exc:
        raise ConfigError(f"diffaugment: {exc}") from None
    text = getattr(config, "attention_at", "")
    try:
        attention_sizes(text)
    except ValueError:
        raise ConfigError(f"attention_at must be feature-map sizes separated by commas (e.g. 16), not {text!r}") from None


def check_attention_at(text: str, size: int, maps: tuple[int, ...]) -> None:
    """ConfigError naming the attention sizes that match no feature map (`maps`) of a `size` px run:
    they would be ignored in silence, leaving the run without the attention asked for."""
    unused = [s for s in attention_sizes(text) if s not in maps]
    if unused:
        where = (f"its feature maps are {', '.join(map(str, maps))}" if maps else
                 "its nets have no feature map to attend at")
        raise ConfigError(f"attention_at {','.join(map(str, unused))} matches no feature map at {size} px: "
                          f"{where} (or leave attention_at empty for none)")


def attention_sizes(text: str) -> tuple[int, ...]:
    sizes = tuple(int(p) for p in text.replace(" ", "").split(",") if p)
    if any(s < 1 for s in sizes):
        raise ValueError(text)
    return sizes


def _recipe_config(class_name: str, doc: str, **defaults) -> type:
    """A GANConfig subclass whose defaults are a named recipe (forms and `families` show them)."""
    base = {f.name: f for f in fields(GANConfig)}
    redeclared = [(k, base[k].type, field(default=v, metadata=base[k].metadata)) for k, v in defaults.items()]
    cls = make_dataclass(class_name, redeclared, bases=(GANConfig,), frozen=True, namespace={"__doc__": doc})
    cls.__module__ = __name__
    return cls


VanillaGANConfig = _recipe_config(
    "VanillaGANConfig", "Goodfellow et al. (2014): fully connected nets, BCE loss.",
    architecture="mlp", latent_dim=64, loss="bce", spectral_norm_d=False, ema_decay=0.0, diffaugment="",
    lr_d=2e-4, beta1=0.5, beta2=0.999)
DCGANConfig = _recipe_config(
    "DCGANConfig", "Radford et al. (2015): batch norm in both nets, BCE, Adam 2e-4/0.5, N(0, 0.02) init.",
    latent_dim=100, g_width=64, d_width=64, loss="bce", spectral_norm_d=False, d_batch_norm=True,
    ema_decay=0.0, diffaugment="", lr_d=2e-4, beta1=0.5, beta2=0.999)
SNGANConfig = _recipe_config(
    "SNGANConfig", "Small-data default: hinge loss, spectral norm in D, EMA of G, TTUR (D 4e-4, Adam 0/0.9); DiffAugment available.")
CGANConfig = _recipe_config(
    "CGANConfig", "The SN-GAN recipe conditioned on subfolder labels (projection discriminator).",
    conditional=True)
WGANGPConfig = _recipe_config(
    "WGANGPConfig", "Gulrajani et al. (2017): critic with gradient penalty, 5 critic steps, Adam 1e-4 (0, 0.9).",
    loss="wgan-gp", n_critic=5, spectral_norm_d=False, lr_g=1e-4, lr_d=1e-4, beta1=0.0, beta2=0.9,
    ema_decay=0.0, diffaugment="")
SAGANConfig = _recipe_config(
    "SAGANConfig", "Zhang et al. (2018): self-attention, spectral norm in both nets, hinge, TTUR (G 1e-4, D 4e-4).",
    spectral_norm_g=True, attention_at="16", lr_g=1e-4, lr_d=4e-4, beta1=0.0, beta2=0.9)


def preset_for_size(config, size: int):
    """Resolution-dependent defaults: narrower convs for large images (CPU), attention where it fits."""
    changes = {}
    if config.g_width == 32 and config.d_width == 32 and size >= 128:
        changes.update(g_width=16, d_width=16)
    if config.attention_at:
        base, doublings = plan_resolutions(size)
        ladder = [base * 2 ** i for i in range(doublings + 1)]
        # one attention block at the largest map of at most 16 px short of the output (quadratic cost)
        fitting = [r for r in ladder if r <= 16 and r < size] or [ladder[0]]
        changes["attention_at"] = str(fitting[-1])
    return dataclasses.replace(config, **changes)

# which recipe a config is (an engine built from it reports that family name)
RECIPE_NAMES: dict[type, str] = {VanillaGANConfig: "gan", DCGANConfig: "dcgan", CGANConfig: "cgan",
                                 WGANGPConfig: "wgan-gp", SNGANConfig: "sngan", SAGANConfig: "sagan"}
