"""Helpers a family's export_network() builds its plain, traceable module with (engines/network_export.py
writes it as ONNX or torch.export)."""

from __future__ import annotations

import copy
import types

import torch
from torch import nn
from torch.nn.utils import parametrize


def plain_copy(module: nn.Module) -> nn.Module:
    """A deep copy in eval mode with every parametrisation (spectral norm, weight norm) baked into
    plain weights: exporters see ordinary parameters, and no power iteration runs."""
    twin = copy.deepcopy(module).eval()
    for m in twin.modules():
        if parametrize.is_parametrized(m):
            # a deep copy shares the parametrised class that holds the `weight` property with the
            # original, and removal deletes that property from the class: give the copy its own first
            cls = type(m)
            m.__class__ = type(cls.__name__, cls.__bases__, dict(cls.__dict__))
            for name in list(m.parametrizations.keys()):
                parametrize.remove_parametrizations(m, name, leave_parametrized=True)
    for p in twin.parameters():
        p.requires_grad_(False)
    return twin.float().cpu()


class Call(nn.Module):
    """forward(*inputs) = fn(net, *inputs), with the net registered (its weights are exported)."""

    def __init__(self, net: nn.Module, fn, names: tuple[str, ...]):
        super().__init__()
        self.net, self._fn, self._names = net, fn, names

    def forward(self, *args):
        return self._fn(self.net, *args)


def example_labels(n: int, classes: int) -> torch.Tensor:
    return torch.arange(n, dtype=torch.int64) % max(classes, 1)


def bake_inverses(flow: nn.Module) -> nn.Module:
    """Glow's invertible 1x1 convolutions invert their weight matrix on every call; ONNX has no
    matrix inverse, and the weights are fixed now: compute each inverse once (float64) and keep it."""
    from .flows import InvConv1x1

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.conv2d(y, self.baked_inverse[:, :, None, None])

    for m in flow.modules():
        if isinstance(m, InvConv1x1):
            m.register_buffer("baked_inverse", torch.linalg.inv(m.weight().double()).float())
            m.inverse = types.MethodType(inverse, m)
    return flow
