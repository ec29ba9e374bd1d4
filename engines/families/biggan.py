"""BigGAN (Brock et al., 2019), scaled down: class-conditional batch norm from a shared class
embedding plus hierarchical z (one chunk per block), projection discriminator, hinge loss, spectral
norm in G and D, orthogonal regularisation of G (option), a moving average of G, and the truncation
trick when sampling.

Truncation (`--set truncation=PSI`, 0 < PSI <= 1): below 1, every entry of z beyond +-2*PSI is drawn
again until it falls inside, so smaller values give more typical, less varied images; 1 is plain
N(0, 1) sampling.

On unlabelled data (no class subfolders) BigGAN trains unconditionally rather than refusing: its
other parts (residual blocks, hierarchical z feeding the batch norms, hinge loss, spectral norm,
EMA, truncation) still work, and the first monitor call says so in a training notice. Class mixing
in the Latent panel (decode with class weights) works as in cGAN: the shared embedding mixes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from ..config import param
from ..nn.biggan_nets import BigDiscriminator, BigGenerator, attention_maps, orthogonal_penalty
from ..nn.gan_blocks import diff_augment, parse_policy
from ..registry import Family
from .base import Batch, DataSpec
from .gan import SATURATION_GAP, attention_sizes, check_attention_at, check_gan_options
from .gan_common import TRUNCATION_HELP, MilestoneGAN


@dataclass(frozen=True)
class BigGANSampling:
    """BigGAN's sampling options: the class decode() draws, and the truncation trick."""
    label: str = param("", help="Class that decode() draws when given no labels (the Latent panel's default); "
                                "conditional runs only. sample() takes classes directly.")
    truncation: float = param(1.0, min=0.05, max=1.0, help=TRUNCATION_HELP + " BigGAN draws every entry of z "
                              "again until it lies within +-2*psi.")


@dataclass(frozen=True)
class BigGANConfig:
    """Brock et al. (2019) at CPU scale: conditional BN, hierarchical z, projection D, hinge, SN, EMA."""
    loss: ClassVar[str] = "hinge"

    latent_dim: int = param(120, min=4, max=1024, help="Size of z; it is split into one chunk per generator block plus one for the input.")
    embed_dim: int = param(64, min=4, max=512, help="Size of the shared class embedding that feeds every block's batch norm.")
    g_width: int = param(16, min=4, max=512, help="Generator channels at the full resolution (doubling towards the start, up to 8x); 16 keeps a CPU run quick, the 64 px preset uses 48.")
    d_width: int = param(16, min=4, max=512, help="Discriminator channels after its first block (doubling with depth, up to 8x); the 64 px preset uses 48.")
    attention_at: str = param("", help="Self-attention at these feature-map sizes (comma separated, e.g. 16); empty: none.")
    conditional: bool = param(True, help="Condition on subfolder labels; without labels the run is unconditional (and says so).")
    n_critic: int = param(1, min=1, max=10, help="Discriminator steps per generator step (the paper: 2).")
    ortho_reg: float = param(1e-4, min=0.0, max=1.0, help="Weight of the orthogonal regulariser on G's weights (0: off); it makes G smoother, so truncation works better.")
    ema_decay: float = param(0.999, min=0.0, max=0.99999, help="Samples come from a moving average of G with this decay; 0 samples the live G.")
    diffaugment: str = param("", help="DiffAugment policies for D's inputs (comma list of color, translation, cutout; empty: off).")
    lr_g: float = param(2e-4, min=1e-6, max=1e-1, help="Generator learning rate (Adam); the CPU recipe takes SN-GAN's 2e-4, the 64 px preset the paper's 1e-4.")
    lr_d: float = param(4e-4, min=1e-6, max=1e-1, help="Discriminator learning rate (Adam).")
    beta1: float = param(0.0, min=0.0, max=0.999, help="Adam beta1.")
    beta2: float = param(0.9, min=0.0, max=0.9999, help="Adam beta2; the CPU recipe takes SN-GAN's 0.9, the 64 px preset the paper's 0.999.")
    collapse_ratio: float = param(0.5, min=0.0, max=1.0, help="Warn of mode collapse when sample diversity falls below this share of the data's.")
    divergence_steps: int = param(200, min=10, max=1_000_000, help="Warn of divergence when D beats G outright for this many steps in a row.")

    def check(self) -> None:
        check_gan_options(self)

    def check_size(self, size: int) -> None:
        """A new run at `size` px: attention sizes must name feature maps the nets have."""
        check_attention_at(self.attention_at, size, attention_maps(size))


def preset_for_size(config: BigGANConfig, size: int) -> BigGANConfig:
    """The CPU recipe up to 32 px (the defaults: narrow nets, SN-GAN's Adam settings); at 64 px and above
    wider nets, attention at 32 and the paper's Adam settings (for a GPU). Values a person changed stay."""
    import dataclasses

    if size < 64:
        return config
    changes = {}
    if config.g_width == 16 and config.d_width == 16:
        changes.update(g_width=48, d_width=48, attention_at="32" if size == 64 else "")
    if (config.lr_g, config.beta2) == (2e-4, 0.9):
        changes.update(lr_g=1e-4, beta2=0.999)
    return dataclasses.replace(config, **changes)


def train_preset(size: int) -> dict:
    """Training settings of the CPU recipe: batches of 16 up to 32 px (README, "Recipes at 28 px")."""
    return {"batch_size": 16} if size <= 32 else {}


def truncated_normal(n: int, dim: int, psi: float, gen: torch.Generator) -> torch.Tensor:
    """N(0, 1) draws; with psi < 1 every entry outside +-2*psi is drawn again until it is inside."""
    z = torch.randn(n, dim, generator=gen)
    if psi >= 1.0:
        return z
    limit = 2.0 * psi
    outside = z.abs() > limit
    while outside.any():
        z[outside] = torch.randn(int(outside.sum()), generator=gen)
        outside = z.abs() > limit
    return z


class BigGANEngine(MilestoneGAN):
    family = "biggan"
    class_mixing = True
    sampling_config = BigGANSampling

    def __init__(self, config: BigGANConfig, data: DataSpec, device="cpu", inputs: dict | None = None):
        super().__init__(config, data, device)
        c = config
        self.conditional = bool(c.conditional and data.num_classes > 0)
        classes = data.num_classes if self.conditional else 0
        attention = attention_sizes(c.attention_at)
        self.G = BigGenerator(c.latent_dim, c.g_width, data.size, data.channels, classes, c.embed_dim,
                              attention).to(self.device)
        self.D = BigDiscriminator(c.d_width, data.size, data.channels, classes, attention).to(self.device)
        self._make_ema(self.G)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=c.lr_g, betas=(c.beta1, c.beta2))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=c.lr_d, betas=(c.beta1, c.beta2))
        self.policy = parse_policy(c.diffaugment)

    def train_step(self, batch: Batch, step: int | None = None, total: int | None = None) -> dict[str, float]:
        c, st = self.config, self._state
        index = self._step_index(step)
        self.G.train()
        self.D.train()
        real = batch.float()
        self._last_real, self._last_labels = batch.pixels, batch.labels
        labels = batch.labels if self.conditional else None
        g_turn = (st["d_steps"] + 1) % c.n_critic == 0
        z = torch.randn(real.shape[0], c.latent_dim, device=self.device)
        with torch.set_grad_enabled(g_turn):
            fake = self.G(z, labels)

        aug = (lambda x: diff_augment(x, self.policy)) if self.policy else (lambda x: x)  # noqa: E731
        d_real, d_fake = self.D(aug(real), labels), self.D(aug(fake.detach()), labels)
        loss_d = torch.relu(1.0 - d_real).mean() + torch.relu(1.0 + d_fake).mean()
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self._note("d_grad_norm", self.optimizer_step(self.opt_d, self.D))
        st["d_steps"] += 1
        self._record_scores(d_real, d_fake, SATURATION_GAP["hinge"])
        out = {"d_loss": loss_d.item()}

        if g_turn:
            self.D.requires_grad_(False)
            try:
                loss_g = -self.D(aug(fake), labels).mean()
                total_g = loss_g
                if c.ortho_reg > 0:
                    ortho = orthogonal_penalty(self.G)
                    total_g = total_g + c.ortho_reg * ortho
                    self._note("ortho_penalty", ortho.item())  # a diagnostic, not a loss to plot
                self.opt_g.zero_grad(set_to_none=True)
                total_g.backward()
            finally:
                self.D.requires_grad_(True)
            self._note("g_grad_norm", self.optimizer_step(self.opt_g, self.G))
            self._update_ema(self.G)
            st["g_loss"] = loss_g.item()
        out["g_loss"] = st["g_loss"]
        st["steps"] = index + 1
        return out

    def unconditional_note(self) -> str:
        return ("BigGAN is training unconditionally: the data has no class subfolders, so the batch norms "
                "are driven by z alone and there are no classes to pick or mix. Put each class in its own "
                "subfolder to train it class-conditionally.")

    def sampling_options(self) -> BigGANSampling:
        label = self.data.class_names[self.decode_label] if self.conditional and self.data.class_names else ""
        return BigGANSampling(label, self.truncation)

    def sampling_limits(self) -> dict:
        return {"label": {"choices": self.data.class_names} if self.conditional else None}

    def apply_sampling_options(self, options: BigGANSampling) -> None:
        if self.conditional and options.label:
            self.decode_label = list(self.data.class_names).index(options.label)
        self.truncation = float(options.truncation)

    def random_latents(self, n: int, seed: int) -> torch.Tensor:
        """z for n images; with the truncation option below 1, drawn from the truncated normal."""
        gen = torch.Generator().manual_seed(int(seed))
        return truncated_normal(n, self.config.latent_dim, self.truncation, gen)


FAMILY = Family(
    name="biggan", title="BigGAN",
    description="Class-conditional batch norm from a shared class embedding plus hierarchical z, projection "
                "discriminator, hinge loss, spectral norm in both nets, orthogonal regularisation, EMA; "
                "the truncation trick when sampling (truncation=PSI). Unlabelled data: trains unconditionally.",
    config_class=BigGANConfig, engine_class=BigGANEngine, preset=preset_for_size, train_preset=train_preset)
