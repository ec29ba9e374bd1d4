"""VQ-VAE (van den Oord et al., 2017): a conv autoencoder whose latent grid is snapped to a learnt codebook.

The encoder maps an image to an h x w grid of D-dimensional vectors (h = size / 2^downsample); each
vector is replaced by its nearest codebook entry, and the decoder rebuilds the image from those
entries. The image becomes h x w discrete tokens: what the `transformer` (token variant) models and
what `ldm` can diffuse in. Gradients pass the quantiser straight through; the encoder is pulled
towards its codes by the commitment loss beta * |z_e - sg(q)|^2.

The codebook is not trained by gradients but as exponential moving averages of the encoder outputs
assigned to each code (the paper's appendix; k-means online), which is steadier. The failure people
hit is dead codes: entries no encoder output is nearest to never move again, and the effective
codebook shrinks. A code whose moving-average use falls below `dead_threshold` is restarted on a
random encoder output from the current batch. Codebook usage (share of codes in use) and perplexity
(exp of the entropy of code use; the effective number of codes) are logged every step.

On its own, a VQ-VAE reconstructs (validation: MSE and PSNR) and its latent space can be explored
(encode gives the continuous encoder grid; decode quantises, then decodes). It has no prior over the
tokens, so `sample()` draws each position's token from the empirical histogram of that position's
codes in the training data, independently: a rough mosaic that shows what the codes hold, not a
generative model. For real samples, train a `transformer` or `ldm` on top of it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..config import param, replace_checked
from ..registry import Family
from ..runtime.distributed import broadcast_tensors, sum_tensors
from .base import Batch, DataSpec, Engine, Finding, ProgressFn, to_uint8
from .capabilities import LatentCodec, Reconstructor, Sampler


@dataclass(frozen=True)
class VQVAEConfig:
    width: int = param(32, min=4, max=512, help="Channels of the first conv layer (doubled after the first halving).")
    downsample: int = param(2, min=1, max=4, help="Halvings from the image to the token grid: 2 turns 28 px into 7 x 7 tokens, 16 px into 4 x 4.")
    code_dim: int = param(16, min=1, max=512, help="Dimension D of each codebook vector.")
    codebook_size: int = param(64, min=2, max=8192, help="Number of codes K (the token vocabulary).")
    beta: float = param(0.25, min=0.0, max=10.0, help="Weight of the commitment loss that pulls encoder outputs towards their codes.")
    ema_decay: float = param(0.99, min=0.5, max=0.99999, help="Decay of the moving averages that train the codebook.")
    dead_threshold: float = param(0.05, min=0.0, max=100.0, help="Restart a code on a random encoder output when its moving-average use per batch falls below this (0: never).")
    lr: float = param(2e-3, min=1e-6, max=1e-1, help="Adam learning rate of the encoder and decoder.")
    grad_clip: float = param(10.0, min=0.0, max=1e6, advanced=True, help="Clip the gradient norm to this unless the run's grad_clip setting is set (0: off).")


def preset(config: VQVAEConfig, size: int) -> VQVAEConfig:
    if size <= 32:
        return replace_checked(config, width=32, downsample=2, code_dim=16, codebook_size=64)
    return replace_checked(config, width=64, downsample=3, code_dim=32, codebook_size=256)


def train_preset(size: int) -> dict:
    return {"batch_size": 32, "sample_every": 200}


def plan(size: int, downsample: int) -> list[int]:
    sizes = [size]
    for _ in range(downsample):
        sizes.append(math.ceil(sizes[-1] / 2))
    return sizes


def _kernel(size: int) -> int:
    return 4 if size % 2 == 0 else 3  # k4 s2 p1: s <-> s/2 (even s); k3 s2 p1: s <-> ceil(s/2) (odd s)


class ResBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(nn.ReLU(), nn.Conv2d(ch, ch, 3, 1, 1), nn.ReLU(), nn.Conv2d(ch, ch, 1))

    def forward(self, x):
        return x + self.body(x)


class VQEncoder(nn.Module):
    def __init__(self, channels: int, size: int, width: int, downsample: int, code_dim: int):
        super().__init__()
        sizes = plan(size, downsample)
        layers: list[nn.Module] = []
        ch = channels
        for i, s in enumerate(sizes[:-1]):
            out = width if i == 0 else 2 * width
            layers += [nn.Conv2d(ch, out, _kernel(s), 2, 1), nn.ReLU()]
            ch = out
        layers += [nn.Conv2d(ch, ch, 3, 1, 1), ResBlock(ch), nn.ReLU(), nn.Conv2d(ch, code_dim, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class VQDecoder(nn.Module):
    def __init__(self, channels: int, size: int, width: int, downsample: int, code_dim: int):
        super().__init__()
        sizes = plan(size, downsample)
        ch = 2 * width if downsample > 1 else width
        layers: list[nn.Module] = [nn.Conv2d(code_dim, ch, 3, 1, 1), ResBlock(ch), nn.ReLU()]
        for i in range(len(sizes) - 2, -1, -1):
            out = channels if i == 0 else (width if i == 1 else 2 * width)
            layers.append(nn.ConvTranspose2d(ch, out, _kernel(sizes[i]), 2, 1))
            if i > 0:
                layers.append(nn.ReLU())
            ch = out
        self.net = nn.Sequential(*layers)

    def forward(self, z):
        return self.net(z)


class EMACodebook(nn.Module):
    """K codes of dimension D trained by moving averages; every part is a buffer (checkpointed)."""

    def __init__(self, size: int, dim: int, decay: float):
        super().__init__()
        self.decay = decay
        # no use yet: the first update restarts every code nobody picked on an encoder output, so the
        # codebook starts on the data (a random start far from the encoder's outputs collapses to a few codes)
        self.register_buffer("embed", torch.randn(size, dim) * 0.1)
        self.register_buffer("cluster_size", torch.zeros(size))   # moving-average assignments per batch
        self.register_buffer("embed_sum", torch.zeros(size, dim))
        self.register_buffer("restarts", torch.zeros((), dtype=torch.int64))

    def nearest(self, flat: torch.Tensor) -> torch.Tensor:
        """(N, D) -> index of the nearest code (N,)."""
        d = (flat.pow(2).sum(1, keepdim=True) - 2 * flat @ self.embed.T + self.embed.pow(2).sum(1)[None])
        return d.argmin(1)

    def lookup(self, idx: torch.Tensor) -> torch.Tensor:
        return F.embedding(idx, self.embed)

    @torch.no_grad()
    def update(self, flat: torch.Tensor, idx: torch.Tensor, dead_threshold: float) -> int:
        """One EMA step of the codebook from encoder outputs `flat` assigned to `idx`; restarts dead
        codes on random rows of `flat` (global RNG: the training loop checkpoints it). Returns the
        number of codes restarted."""
        k = self.embed.shape[0]
        onehot = F.one_hot(idx, k).type(flat.dtype)
        counts, sums = onehot.sum(0), onehot.T @ flat
        sum_tensors([counts, sums])  # several processes: the counts and sums of the combined batch
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.embed_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        n = self.cluster_size.sum()
        smoothed = (self.cluster_size + 1e-5) / (n + k * 1e-5) * n  # Laplace smoothing: no division by 0
        self.embed.copy_(self.embed_sum / smoothed[:, None])
        dead = self.cluster_size < dead_threshold if dead_threshold > 0 else torch.zeros(k, dtype=torch.bool)
        count = int(dead.sum())
        if count:
            pick = torch.randint(0, flat.shape[0], (count,)).to(flat.device)
            fresh = flat[pick]
            broadcast_tensors([fresh])  # several processes: rank 0's choice, the same codebook everywhere
            self.embed[dead] = fresh
            self.embed_sum[dead] = fresh
            self.cluster_size[dead] = 1.0
            self.restarts.add_(count)
        return count


def usage_stats(counts: torch.Tensor) -> tuple[float, float]:
    """(share of codes used, perplexity) of code counts (K,)."""
    total = counts.sum()
    if total <= 0:
        return 0.0, 0.0
    p = counts / total
    entropy = -(p[p > 0] * p[p > 0].log()).sum()
    return float((counts > 0).float().mean()), float(entropy.exp())


class VQVAEEngine(Engine, Sampler, LatentCodec, Reconstructor):
    family = "vqvae"
    best_metric = "mse"  # held-out, lower is better: the loop keeps a "best" checkpoint
    train_measure = "recon"
    encoding = "encoder (the continuous grid before quantisation)"

    def __init__(self, config: VQVAEConfig, data: DataSpec, device="cpu", inputs: dict | None = None):
        super().__init__(config, data, device)
        c = config
        self.conditional = False
        self.encoder = VQEncoder(data.channels, data.size, c.width, c.downsample, c.code_dim).to(self.device)
        self.decoder = VQDecoder(data.channels, data.size, c.width, c.downsample, c.code_dim).to(self.device)
        self.codebook = EMACodebook(c.codebook_size, c.code_dim, c.ema_decay).to(self.device)
        self.grid = plan(data.size, c.downsample)[-1]
        # per-position code histogram of the training data (moving average), what sample() draws from
        self.code_hist = _Histogram(self.grid * self.grid, c.codebook_size).to(self.device)
        self.opt = torch.optim.Adam(list(self.encoder.parameters()) + list(self.decoder.parameters()), lr=c.lr)
        self._usage: tuple[float, float] = (0.0, 0.0)

    # --- the model -----------------------------------------------------------------------------------
    @property
    def codebook_size(self) -> int:
        return self.config.codebook_size

    @property
    def token_grid(self) -> int:
        """Side of the square token grid."""
        return self.grid

    def quantize(self, z_e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, D, h, w) -> (quantised (B, D, h, w), tokens (B, h, w))."""
        b, d, h, w = z_e.shape
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, d)
        idx = self.codebook.nearest(flat)
        q = self.codebook.lookup(idx).view(b, h, w, d).permute(0, 3, 1, 2)
        return q, idx.view(b, h, w)

    def tokens_to_latents(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.codebook.lookup(tokens.to(self.device)).permute(0, 3, 1, 2)

    def train_step(self, batch: Batch, step: int = 0, total: int = 1) -> dict[str, float]:
        self.encoder.train()
        self.decoder.train()
        x = batch.float()
        z_e = self.encoder(x)
        q, tokens = self.quantize(z_e)
        recon = self.decoder(z_e + (q - z_e).detach())     # straight-through
        rec = F.mse_loss(recon, x)
        commit = F.mse_loss(z_e, q.detach())
        loss = rec + self.config.beta * commit
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        norm = self._optimise()
        flat = z_e.detach().permute(0, 2, 3, 1).reshape(-1, z_e.shape[1])
        restarted = self.codebook.update(flat, tokens.reshape(-1), self.config.dead_threshold)
        self.code_hist.update(tokens)
        # several training processes: the codebook's update used the combined batch's counts (the same
        # everywhere); the code histogram is averaged with the other buffers after the step (the loop)
        counts = torch.bincount(tokens.reshape(-1), minlength=self.config.codebook_size).float()
        used, perplexity = usage_stats(counts)
        return {"loss": loss.item(), "recon": rec.item(), "commitment": commit.item(), "perplexity": perplexity,
                "codes_used": used, "restarts": float(restarted), "grad_norm": norm}

    def _optimise(self) -> float:
        params = [p for g in self.opt.param_groups for p in g["params"]]
        return self.optimizer_step(self.opt, params, clip=self.config.grad_clip)

    def monitor(self, step: int) -> tuple[dict[str, float], list[Finding]]:
        """Codebook health from the moving-average use of each code."""
        counts = self.codebook.cluster_size
        alive = counts >= max(self.config.dead_threshold, 1e-3)
        p = counts / counts.sum()
        perplexity = float((-(p * (p + 1e-12).log()).sum()).exp())
        used = float(alive.float().mean())
        findings = []
        if used < 0.25:
            findings.append(Finding("dead-codes", f"only {used:.0%} of the {self.config.codebook_size} codes are in use "
                                    f"(perplexity {perplexity:.1f}); raise dead_threshold or lower codebook_size"))
        return {"codebook_usage": used, "codebook_perplexity": perplexity,
                "code_restarts": float(self.codebook.restarts)}, findings

    @torch.no_grad()
    def validate(self, batches: Iterable[Batch]) -> dict[str, float]:
        self.encoder.eval()
        self.decoder.eval()
        total, count = 0.0, 0
        counts = torch.zeros(self.config.codebook_size, device=self.device)
        for batch in batches:
            x = batch.float()
            q, tokens = self.quantize(self.encoder(x))
            recon = self.decoder(q).clamp(-1, 1)
            total += float(((recon - x) * 127.5).pow(2).sum())
            count += x.numel()
            counts += torch.bincount(tokens.reshape(-1), minlength=self.config.codebook_size).float()
        self.encoder.train()
        self.decoder.train()
        if not count:
            return {}
        mse = total / count
        used, perplexity = usage_stats(counts)
        return {"mse": mse, "psnr_db": 10 * math.log10(255.0 ** 2 / max(mse, 1e-10)), "perplexity": perplexity,
                "codes_used": used}

    # --- tokens (for the transformer) and latents (for the explorer and ldm) ---------------------------
    def _to_tensor(self, images: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.array(images, dtype=np.uint8)).permute(0, 3, 1, 2).float()
        return (x / 127.5 - 1.0).to(self.device)

    @torch.no_grad()
    def tokens(self, images: np.ndarray) -> torch.Tensor:
        """uint8 (N, H, W, C) -> tokens (N, h, w) int64."""
        out = [self.quantize(self.encoder.eval()(self._to_tensor(images[i:i + 256])))[1].cpu()
               for i in range(0, len(images), 256)]
        return torch.cat(out) if out else torch.zeros(0, self.grid, self.grid, dtype=torch.long)

    @torch.no_grad()
    def decode_tokens(self, tokens: torch.Tensor) -> np.ndarray:
        return to_uint8(self.decoder.eval()(self.tokens_to_latents(tokens.long())))

    @torch.no_grad()
    def encode(self, images: np.ndarray, labels=None, progress: ProgressFn | None = None) -> torch.Tensor:
        """The encoder's continuous grid (N, D, h, w) before quantisation."""
        out = [self.encoder.eval()(self._to_tensor(images[i:i + 256])).cpu() for i in range(0, len(images), 256)]
        return torch.cat(out) if out else torch.zeros(0, self.config.code_dim, self.grid, self.grid)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, labels=None, progress=None) -> np.ndarray:
        """Quantise to the nearest codes, then decode."""
        q, _ = self.quantize(torch.as_tensor(latents, dtype=torch.float32).to(self.device))
        return to_uint8(self.decoder.eval()(q))

    def reconstruct(self, images: np.ndarray, labels=None, progress=None) -> np.ndarray:
        return self.decode(self.encode(images))

    def random_latents(self, n: int, seed: int) -> torch.Tensor:
        """Code vectors drawn per position from the empirical code histogram (independently)."""
        gen = torch.Generator().manual_seed(int(seed))
        return self.tokens_to_latents(self.code_hist.draw(n, self.grid, gen)).cpu()

    def sample(self, n: int, seed: int, labels: np.ndarray | None = None, progress: ProgressFn | None = None) -> np.ndarray:
        """Tokens drawn per position from the training data's code histogram (no prior: a mosaic)."""
        gen = torch.Generator().manual_seed(int(seed))
        return self.decode_tokens(self.code_hist.draw(n, self.grid, gen))

    # --- state ------------------------------------------------------------------------------------------
    def modules(self) -> dict[str, nn.Module]:
        return {"encoder": self.encoder, "decoder": self.decoder, "codebook": self.codebook,
                "code_histogram": self.code_hist}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"autoencoder": self.opt}


class _Histogram(nn.Module):
    """Moving-average counts of each code at each grid position (buffers: checkpointed)."""

    def __init__(self, positions: int, codes: int, decay: float = 0.99):
        super().__init__()
        self.decay = decay
        self.register_buffer("counts", torch.ones(positions, codes) / codes)

    @torch.no_grad()
    def update(self, tokens: torch.Tensor) -> None:
        b = tokens.shape[0]
        onehot = F.one_hot(tokens.reshape(b, -1), self.counts.shape[1]).float().mean(0)
        self.counts.mul_(self.decay).add_(onehot, alpha=1 - self.decay)

    def draw(self, n: int, grid: int, generator: torch.Generator) -> torch.Tensor:
        probs = self.counts.cpu().clamp_min(0)
        idx = torch.multinomial(probs, n, replacement=True, generator=generator)  # (positions, n)
        return idx.T.reshape(n, grid, grid)


FAMILY = Family(
    name="vqvae",
    title="VQ-VAE (tokeniser)",
    description="Conv autoencoder with a discrete latent grid: each cell snaps to one of K learnt codes (EMA "
                "codebook, dead codes restarted). Reconstructs and encodes; on its own it samples only a mosaic "
                "from the code histogram. The first stage of transformer (tokens) and ldm.",
    config_class=VQVAEConfig,
    engine_class=VQVAEEngine,
    preset=preset,
    train_preset=train_preset,
)
