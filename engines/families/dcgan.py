"""DCGAN (Radford et al., 2015): transposed-conv generator, strided-conv discriminator, BCE loss.

The classic recipe: batch norm in both nets (not on D's input layer), ReLU in G, LeakyReLU(0.2)
in D, tanh output, N(0, 0.02) weight init, Adam(lr 2e-4, betas 0.5/0.999).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..config import param
from ..registry import Family
from .base import Batch, DataSpec, Engine, to_uint8


@dataclass(frozen=True)
class DCGANConfig:
    latent_dim: int = param(100, min=2, max=1024, help="Size of the noise vector z the generator starts from.")
    g_width: int = param(64, min=8, max=512, help="Channels of the generator's last hidden layer (doubles towards the start, up to 8x).")
    d_width: int = param(64, min=8, max=512, help="Channels of the discriminator's first layer (doubles with depth, up to 8x).")
    lr_g: float = param(2e-4, min=1e-6, max=1e-1, help="Generator learning rate (Adam).")
    lr_d: float = param(2e-4, min=1e-6, max=1e-1, help="Discriminator learning rate (Adam).")
    beta1: float = param(0.5, min=0.0, max=0.999, help="Adam beta1; the DCGAN paper lowers it from 0.9 to 0.5 for stability.")
    beta2: float = param(0.999, min=0.0, max=0.9999, help="Adam beta2.")
    real_label: float = param(1.0, min=0.5, max=1.0, help="Target for real images in D's loss; below 1 is one-sided label smoothing.")


def plan_resolutions(size: int) -> tuple[int, int]:
    """(base, doublings): the smallest feature map and how many 2x steps reach `size`."""
    base, doublings = size, 0
    while base % 2 == 0 and base > 7:
        base //= 2
        doublings += 1
    return base, doublings


def init_dcgan_weights(module: nn.Module) -> None:
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class Generator(nn.Module):
    def __init__(self, latent_dim: int, width: int, size: int, channels: int):
        super().__init__()
        base, doublings = plan_resolutions(size)
        ch = width * min(2 ** max(doublings - 1, 0), 8)
        layers: list[nn.Module] = [nn.ConvTranspose2d(latent_dim, ch, base, 1, 0, bias=False),
                                   nn.BatchNorm2d(ch), nn.ReLU(True)]
        for i in range(doublings):
            if i == doublings - 1:
                layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1)]
            else:
                nxt = max(width, ch // 2)
                layers += [nn.ConvTranspose2d(ch, nxt, 4, 2, 1, bias=False), nn.BatchNorm2d(nxt), nn.ReLU(True)]
                ch = nxt
        if doublings == 0:
            layers += [nn.Conv2d(ch, channels, 3, 1, 1)]
        layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)
        self.latent_dim = latent_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z[:, :, None, None])


class Discriminator(nn.Module):
    def __init__(self, width: int, size: int, channels: int):
        super().__init__()
        base, doublings = plan_resolutions(size)
        layers: list[nn.Module] = []
        ch_in, ch = channels, width
        for i in range(doublings):
            layers.append(nn.Conv2d(ch_in, ch, 4, 2, 1, bias=(i == 0)))
            if i > 0:
                layers.append(nn.BatchNorm2d(ch))
            layers.append(nn.LeakyReLU(0.2, True))
            ch_in, ch = ch, min(ch * 2, width * 8)
        layers.append(nn.Conv2d(ch_in, 1, base, 1, 0))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten(1).mean(1)


class DCGANEngine(Engine):
    family = "dcgan"
    has_latent = True

    def __init__(self, config: DCGANConfig, data: DataSpec, device="cpu"):
        super().__init__(config, data, device)
        c = config
        self.G = Generator(c.latent_dim, c.g_width, data.size, data.channels).to(self.device)
        self.D = Discriminator(c.d_width, data.size, data.channels).to(self.device)
        self.G.apply(init_dcgan_weights)
        self.D.apply(init_dcgan_weights)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=c.lr_g, betas=(c.beta1, c.beta2))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=c.lr_d, betas=(c.beta1, c.beta2))

    def train_step(self, batch: Batch) -> dict[str, float]:
        self.G.train()
        self.D.train()
        real = batch.float()
        z = torch.randn(real.shape[0], self.config.latent_dim, device=self.device)
        fake = self.G(z)

        d_real = self.D(real)
        d_fake = self.D(fake.detach())
        loss_d = (F.binary_cross_entropy_with_logits(d_real, torch.full_like(d_real, self.config.real_label))
                  + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.clip_and_check(self.D)
        self.opt_d.step()

        d_fake_for_g = self.D(fake)
        loss_g = F.binary_cross_entropy_with_logits(d_fake_for_g, torch.ones_like(d_fake_for_g))
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.clip_and_check(self.G)
        self.opt_g.step()
        return {"d_loss": loss_d.item(), "g_loss": loss_g.item(),
                "d_real": torch.sigmoid(d_real).mean().item(), "d_fake": torch.sigmoid(d_fake).mean().item()}

    # --- latent space ---------------------------------------------------------------------------
    def random_latents(self, n: int, seed: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(int(seed))
        return torch.randn(n, self.config.latent_dim, generator=gen)

    def render(self, latents: torch.Tensor) -> torch.Tensor:
        self.G.eval()
        return self.G(latents.to(self.device, torch.float32))

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> np.ndarray:
        was_training = self.G.training
        self.G.eval()
        try:
            return to_uint8(self.G(latents.to(self.device, torch.float32)))
        finally:
            self.G.train(was_training)

    def sample(self, n: int, seed: int, labels: np.ndarray | None = None, progress=None) -> np.ndarray:
        return self.decode(self.random_latents(n, seed))

    def modules(self) -> dict[str, nn.Module]:
        return {"generator": self.G, "discriminator": self.D}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"generator": self.opt_g, "discriminator": self.opt_d}


FAMILY = Family(
    name="dcgan",
    title="DCGAN",
    description="Deep convolutional GAN with the classic recipe (BCE loss, batch norm, Adam 2e-4/0.5). "
                "Sharp samples when it works; watch for mode collapse and divergence.",
    config_class=DCGANConfig,
    engine_class=DCGANEngine,
)
