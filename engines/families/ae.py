"""Autoencoder: conv encoder to a small code, conv decoder back, trained on reconstruction (MSE).

An autoencoder has no prior over its codes, so on its own it cannot generate. To give it a
`sample()` anyway, a Gaussian is fitted to the codes of the training images as training goes
(running mean and second moment, kept in a module buffer so checkpoints carry it) and new codes
are drawn from it (the "ex-post density estimation" of Ghosh et al., 2020). Nothing shapes the
code space for that, so how well it works depends on the data; on the digit benchmark it did
well. There is no likelihood, so no bits/dim: validation reports reconstruction error.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..config import param
from ..nn.autoencoder import ConvDecoder, ConvEncoder
from ..nn.export_helpers import Call, plain_copy
from ..registry import Family
from .base import Batch, DataSpec, Engine, to_uint8
from .capabilities import Exportable, ExportedNetwork, LatentCodec, LatentRenderer, Reconstructor, Sampler


@dataclass(frozen=True)
class AEConfig:
    latent_dim: int = param(16, min=2, max=1024, help="Size of the code an image is squeezed into.")
    width: int = param(32, min=4, max=256, help="Channels of the first conv layer (doubling with each halving, up to 4x).")
    lr: float = param(1e-3, min=1e-6, max=1e-1, help="Learning rate (Adam).")
    code_stats_decay: float = param(0.95, min=0.0, max=0.9999, advanced=True,
                                    help="How slowly the Gaussian fitted to the training codes forgets old codes "
                                         "(they drift while the encoder learns).")


def preset(config: AEConfig, size: int) -> AEConfig:
    """Bigger images need a bigger code to reconstruct their detail."""
    return dataclasses.replace(config, latent_dim=16 if size <= 32 else 64, width=32 if size <= 32 else 48)


class CodeGaussian(nn.Module):
    """A running Gaussian fit of the codes (buffers only, so it lives in the checkpoint).

    Exponential moving averages of the first and second moments, bias-corrected as in Adam so
    the fit follows the recent codes from the first step on (the codes drift while training).
    """

    def __init__(self, dim: int, decay: float):
        super().__init__()
        self.decay = decay
        self.register_buffer("mean_acc", torch.zeros(dim, dtype=torch.float64))
        self.register_buffer("second_acc", torch.zeros(dim, dim, dtype=torch.float64))
        self.register_buffer("weight", torch.zeros((), dtype=torch.float64))

    @torch.no_grad()
    def update(self, codes: torch.Tensor) -> None:
        z = codes.detach().double()
        d = self.decay
        self.mean_acc.mul_(d).add_(z.mean(0), alpha=1 - d)
        self.second_acc.mul_(d).add_(z.T @ z / z.shape[0], alpha=1 - d)
        self.weight.mul_(d).add_(1 - d)

    @property
    def mean(self) -> torch.Tensor:
        return self.mean_acc / self.weight if float(self.weight) > 0 else self.mean_acc

    def covariance(self) -> torch.Tensor:
        if float(self.weight) == 0:  # nothing seen yet: a standard normal
            return torch.eye(self.mean_acc.numel(), dtype=torch.float64, device=self.mean_acc.device)
        m = self.mean
        cov = self.second_acc / self.weight - torch.outer(m, m)
        return 0.5 * (cov + cov.T)

    def scale_matrix(self) -> torch.Tensor:
        """L with L L^T = covariance (via a clamped eigendecomposition: robust when nearly singular)."""
        values, vectors = torch.linalg.eigh(self.covariance())
        return vectors * values.clamp_min(1e-8).sqrt()

    def draw(self, n: int, generator: torch.Generator) -> torch.Tensor:
        eps = torch.randn(n, self.mean.numel(), generator=generator, dtype=torch.float64)
        return (self.mean.cpu() + eps @ self.scale_matrix().cpu().T).float()


def images_to_tensor(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 (N, H, W, C) -> float (N, C, H, W) in [-1, 1]."""
    x = torch.from_numpy(np.array(images)).permute(0, 3, 1, 2).float()  # a copy: memmaps are read-only
    return (x / 127.5 - 1.0).to(device)


class AEEngine(Engine, Sampler, LatentCodec, LatentRenderer, Reconstructor, Exportable):
    family = "ae"
    best_metric = "mse"  # held-out, lower is better: the loop keeps a "best" checkpoint

    def __init__(self, config: AEConfig, data: DataSpec, device="cpu", inputs: dict | None = None):
        super().__init__(config, data, device)
        c = config
        self.encoder = ConvEncoder(data.channels, data.size, c.width, c.latent_dim).to(self.device)
        self.decoder = ConvDecoder(c.latent_dim, data.size, c.width, data.channels).to(self.device)
        self.codes = CodeGaussian(c.latent_dim, c.code_stats_decay).to(self.device)
        params = list(self.encoder.parameters()) + list(self.decoder.parameters())
        self.opt = torch.optim.Adam(params, lr=c.lr)

    def _reconstruct(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encoder(x)
        return z, torch.tanh(self.decoder(z))

    def train_step(self, batch: Batch, step: int = 0, total: int = 1) -> dict[str, float]:
        self.encoder.train()
        self.decoder.train()
        x = batch.float()
        z, recon = self._reconstruct(x)
        loss = F.mse_loss(recon, x)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer_step(self.opt, [*self.encoder.parameters(), *self.decoder.parameters()])
        self.codes.update(z)
        return {"recon": loss.item()}

    @torch.no_grad()
    def validate(self, batches: Iterable[Batch]) -> dict[str, float]:
        """Reconstruction error on held-out images (an autoencoder has no likelihood, so no bits/dim)."""
        self.encoder.eval()
        self.decoder.eval()
        total, count = 0.0, 0
        for batch in batches:
            x = batch.float()
            _, recon = self._reconstruct(x)
            # on the 0..255 scale, so PSNR reads the usual way for 8-bit images
            total += float(((recon - x) * 127.5).pow(2).sum())
            count += x.numel()
        if count == 0:
            return {}
        mse = total / count
        return {"mse": mse, "psnr_db": 10 * math.log10(255.0 ** 2 / max(mse, 1e-10))}

    # --- latent space ---------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, images: np.ndarray, labels=None, progress=None) -> torch.Tensor:
        self.encoder.eval()
        out = [self.encoder(images_to_tensor(images[i:i + 256], self.device)).cpu()
               for i in range(0, len(images), 256)]
        return torch.cat(out) if out else torch.zeros(0, self.config.latent_dim)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, labels=None, progress=None) -> np.ndarray:
        was_training = self.decoder.training
        self.decoder.eval()
        try:
            return to_uint8(torch.tanh(self.decoder(latents.to(self.device, torch.float32))))
        finally:
            self.decoder.train(was_training)

    def random_latents(self, n: int, seed: int) -> torch.Tensor:
        """Codes drawn from the Gaussian fitted to the training codes."""
        return self.codes.draw(n, torch.Generator().manual_seed(int(seed)))

    def sample(self, n: int, seed: int, labels: np.ndarray | None = None, progress=None) -> np.ndarray:
        return self.decode(self.random_latents(n, seed))

    # --- roles: latent renderer (codes whitened by the fitted Gaussian), reconstructor, export ------------
    renders_encoded = True

    def latent_shape(self) -> tuple[int, ...]:
        return (self.config.latent_dim,)

    def _whitening(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.codes.mean.float().to(self.device), self.codes.scale_matrix().float().to(self.device)

    def render_u(self, u: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        mean, scale = self._whitening()
        return torch.tanh(self.decoder(mean + u @ scale.T))

    def encode_u(self, images: np.ndarray, labels: np.ndarray | None = None) -> torch.Tensor:
        mean, scale = self._whitening()
        return (self.encode(images).to(self.device) - mean) @ torch.linalg.pinv(scale).T

    def reconstruct(self, images: np.ndarray, labels: np.ndarray | None = None, progress=None) -> np.ndarray:
        return self.decode(self.encode(images))

    def export_network(self, batch: int = 2) -> ExportedNetwork:
        module = Call(plain_copy(self.decoder), lambda net, z: torch.tanh(net(z)), ("z",))
        return ExportedNetwork(module, {"z": torch.randn(batch, self.config.latent_dim)}, "images",
                               {"network": "decoder", "range": [-1, 1]})

    def modules(self) -> dict[str, nn.Module]:
        return {"encoder": self.encoder, "decoder": self.decoder, "code_gaussian": self.codes}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"autoencoder": self.opt}


FAMILY = Family(
    name="ae",
    title="Autoencoder",
    description="Conv autoencoder trained on reconstruction. It has no prior, so it generates by drawing codes "
                "from a Gaussian fitted to the training images' codes. No likelihood (no bits/dim); "
                "validation reports reconstruction error.",
    config_class=AEConfig,
    engine_class=AEEngine,
    preset=preset,
)
