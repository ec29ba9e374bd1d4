"""A moving average of a network's weights (Polyak averaging), used to sample and to evaluate.

Small batches and a lively learning rate train fastest on a CPU budget, but the live weights then
wander around a good point; their average sits nearer it, which gives steadier samples and lower
held-out measures at no training cost (DDPM, PixelCNN and the flows use it)."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA(nn.Module):
    """A slowly moving copy of a network; a module so checkpoints (and exact resume) include it."""

    def __init__(self, network: nn.Module, decay: float, warmup: bool):
        super().__init__()
        self.network = copy.deepcopy(network).requires_grad_(False).eval()
        self.decay = decay
        self.warmup = warmup
        self.register_buffer("updates", torch.zeros((), dtype=torch.int64))

    @torch.no_grad()
    def update(self, network: nn.Module) -> None:
        n = int(self.updates) + 1
        self.updates.fill_(n)
        # warm-up: the average starts fast and slows down, so early samples are not the random start's
        decay = min(self.decay, (1 + n) / (10 + n)) if self.warmup else self.decay
        for avg, p in zip(self.network.parameters(), network.parameters()):
            avg.lerp_(p.detach(), 1 - decay)
        for avg, b in zip(self.network.buffers(), network.buffers()):
            avg.copy_(b)

    def train(self, mode: bool = True):  # the average never trains (no dropout when sampling)
        return super().train(False)
