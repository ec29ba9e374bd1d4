"""Gradient averaging across training processes, the collective behind Engine.optimizer_step.

Following NVlabs' StyleGAN training loops rather than DDP: after each backward the gradients of the
parameters being stepped are flattened into one buffer, summed with one all_reduce and divided by
the world size. That works for any number of optimisers per step, for double backward (gradient
penalties, R1) and for discriminators run twice per step, which DDP's hooks do not handle.
"""

from __future__ import annotations

import torch
import torch.distributed as dist


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def average_gradients(params: list[torch.Tensor]) -> None:
    """Replace each parameter's gradient by its mean over every process (in place, one collective).

    A non-finite gradient on any process makes the average non-finite on all of them, so the
    finiteness check that follows agrees everywhere and they roll back together.
    """
    n = world_size()
    if n == 1 or not params:
        return
    flat = torch.cat([p.grad.reshape(-1) for p in params])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat.div_(n)
    offset = 0
    for p in params:
        k = p.grad.numel()
        p.grad.copy_(flat[offset:offset + k].view_as(p.grad))
        offset += k
