"""Gated PixelCNN (van den Oord et al., 2016): exact discrete likelihood, sequential sampling.

Two stacks remove the original PixelCNN's blind spot: a vertical stack sees every row above (its
output reaches the horizontal stack only after a one-row shift down), and a horizontal stack sees
the pixels to the left in the current row. Each layer is gated, tanh(a) * sigmoid(b), with a class
bias added to both halves when the data has labels. Each subpixel gets a 256-way softmax, or a
discretised logistic mixture (PixelCNN++, Salimans et al., 2017): a few means and scales instead of
256 free logits (neighbouring values share evidence; on 28 px digits its bits/dim are a little worse
than the softmax's, its samples better). For RGB
the channels of one pixel are predicted in order R -> G -> B: hidden channels are split into three
groups, and at the current pixel group g sees input channels < g in the first layer (mask A) and
groups <= g afterwards (mask B), so the logits of G see R and those of B see R and G, never more.

Plain layers see kernel//2 more rows per layer: too little context to draw a whole digit. Options
widen it cheaply: layer i can spread its taps 2^(i mod cycle) pixels apart (dilation; both stacks stay
causal because the taps only ever move further up or left), the vertical stack can be residual like
the horizontal one, a learnt per-row and per-column bias says where the pixel is, and validation and
sampling can use a moving average of the weights. The row-by-row sampler handles all of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..config import ConfigError, param, replace_checked
from ..measures import discretized_logistic_nll
from ..nn.ema import EMA
from ..nn.export_helpers import Call, example_labels, plain_copy
from ..registry import Family
from .base import Batch, DataSpec, Engine, image_batches
from .capabilities import Autoregressive, Exportable, ExportedNetwork, Likelihood, Sampler

LOG2 = math.log(2.0)
OUTPUTS = ("softmax", "logistic_mixture")
MIN_LOG_SCALE = -7.0  # a logistic narrower than this is far inside one 8-bit bin already


@dataclass(frozen=True)
class PixelCNNConfig:
    layers: int = param(6, min=1, max=30, help="Gated layers; the receptive field grows by kernel//2 pixels per layer.")
    hidden: int = param(60, min=6, max=512, help="Channels in each stack (rounded up to a multiple of 3 for RGB).")
    kernel: int = param(5, min=3, max=9, help="Kernel width of the gated convolutions (odd).")
    dilation_cycle: int = param(1, min=1, max=6, help="Layer i spreads its kernel taps 2^(i mod this) pixels apart, so the receptive field grows much faster than with plain layers at the same cost; 1 means no dilation.")
    vertical_residual: bool = param(False, help="Add each vertical-stack layer's input to its output (a residual), as the horizontal stack always does; helps deeper stacks train.")
    position_bias: bool = param(False, help="Learn a bias per row and per column in every layer, so the network knows where in the image it is (where a digit starts and ends), not only near the borders.")
    head: int = param(128, min=8, max=1024, help="Channels of the 1x1 layer before the output distribution.")
    output: str = param("softmax", choices=OUTPUTS, help="Per-subpixel distribution: 256-way softmax, or a mixture of discretised logistics (a few means and scales instead of 256 free logits).")
    mixtures: int = param(5, min=1, max=20, help="Logistic components per subpixel when output is logistic_mixture.")
    lr: float = param(3e-3, min=1e-6, max=1e-1, help="Adam learning rate (why 3e-3: README, 'Why the recipes are what they are').")
    ema_decay: float = param(0.0, min=0.0, max=0.99999, help="Validation and samples use a moving average of the weights with this decay (steadier than the live weights with small batches); 0 uses the live weights.")
    lr_half_life: int = param(0, min=0, max=10_000_000, help="Steps over which the learning rate halves (exponential decay); 0 keeps it constant.")
    grad_clip: float = param(10.0, min=0.0, max=1e6, help="Largest gradient norm before clipping, unless the training settings set their own grad_clip; 0 turns it off.")
    temperature: float = param(1.0, min=0.05, max=2.0, help="Sampling temperature: divides the logits; below 1 gives cleaner, less varied samples.")

    def check(self) -> None:
        if self.kernel % 2 == 0:
            raise ConfigError(f"kernel must be odd; got {self.kernel}")


@dataclass(frozen=True)
class PixelCNNSampling:
    temperature: float = param(1.0, min=0.05, max=2.0, help="Divides the logits; below 1 gives cleaner, less varied samples.")


def preset(config: PixelCNNConfig, size: int) -> PixelCNNConfig:
    """Recipes that train in a few CPU minutes; larger images need a wider receptive field, not width."""
    # Plain 5x5 layers see only 2 rows further up per layer, so samples were stroke fragments: dilated
    # layers (taps 1, 2, 4 apart) see the whole digit, a per-row/column bias tells them where they are,
    # and the weight average steadies the small-batch noise. The logistic mixture output draws the
    # digit asked for far more often than a 256-way softmax at about the same bits/dim, so it is the
    # recipe (README, "Why the recipes are what they are"; benchmarks/flows_pixelcnn.py).
    shape = dict(dilation_cycle=3, vertical_residual=True, position_bias=True, ema_decay=0.998,
                 output="logistic_mixture")
    if size <= 20:
        return replace_checked(config, layers=4, hidden=32, kernel=5, head=64, **shape)
    if size <= 32:
        return replace_checked(config, layers=6, hidden=32, kernel=5, head=64, **shape)
    return replace_checked(config, layers=6, hidden=24, kernel=5, head=64, **{**shape, "dilation_cycle": 4})


def train_preset(size: int) -> dict:
    """Small batches: in a fixed CPU budget more, noisier steps beat fewer, cleaner ones. Sampling is
    sequential (a few CPU seconds per grid at 28 px, minutes for 40 images at 64 px RGB), so grids
    are rarer and smaller than the default."""
    return {"batch_size": 16, "sample_every": 1000, "n_samples": 40 if size <= 32 else 16}


def group_of(index: torch.Tensor, channels: int, groups: int) -> torch.Tensor:
    """Colour group of each channel when `channels` are laid out as [R..., G..., B...]."""
    return (index * groups) // channels


def colour_mask(out_ch: int, in_ch: int, groups: int, include_own: bool, out_repeats: int = 1) -> torch.Tensor:
    """(out, in) 0/1 mask for the current pixel: output group g may see input groups < g (or <= g).
    `out_repeats` > 1 when the outputs are several stacked copies of the grouped layout (gate a|b)."""
    per = out_ch // out_repeats
    g_out = group_of(torch.arange(out_ch) % per, per, groups)[:, None]
    g_in = group_of(torch.arange(in_ch), in_ch, groups)[None, :]
    return (g_in <= g_out if include_own else g_in < g_out).float()


class MaskedConv(nn.Conv2d):
    """A conv whose weight is multiplied by a fixed mask on every call (the mask is a buffer)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: tuple[int, int], mask: torch.Tensor, dilation: int = 1):
        super().__init__(in_ch, out_ch, kernel, dilation=(1, dilation))
        self.register_buffer("mask", mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, dilation=self.dilation)


class GatedLayer(nn.Module):
    def __init__(self, in_ch: int, hidden: int, kernel: int, groups: int, first: bool, num_classes: int,
                 dilation: int = 1, v_residual: bool = False, position_size: int = 0):
        super().__init__()
        k, half = kernel, kernel // 2
        self.first = first
        # how far the kernel reaches, in pixels: half taps spaced `dilation` apart on each side
        self.reach = half * dilation
        self.v_residual = v_residual and not first
        # vertical: rows [i - half, i] x columns [j - half, j + half]; no colour mask (all of a row
        # above is known, and the current row only ever reaches the output after the shift down)
        self.v_conv = nn.Conv2d(in_ch, 2 * hidden, (half + 1, k), dilation=dilation)
        self.v_to_h = nn.Conv2d(2 * hidden, 2 * hidden, 1)
        # horizontal: columns [j - half, j] of row i; at column j only the allowed colour groups
        h_mask = torch.ones(2 * hidden, in_ch, 1, half + 1)
        h_mask[:, :, 0, half] = colour_mask(2 * hidden, in_ch, groups, include_own=not first, out_repeats=2)
        self.h_conv = MaskedConv(in_ch, 2 * hidden, (1, half + 1), h_mask, dilation)
        self.h_out = MaskedConv(hidden, hidden, (1, 1), colour_mask(hidden, hidden, groups, True)[:, :, None, None])
        self.class_bias = nn.Embedding(num_classes, 2 * hidden) if num_classes else None
        # a learnt bias per row and per column: convolutions alone know where they are only near the
        # zero-padded borders, and a digit has to start (and end) at about the right row
        self.row_bias = nn.Parameter(torch.zeros(1, 2 * hidden, position_size, 1)) if position_size else None
        self.col_bias = nn.Parameter(torch.zeros(1, 2 * hidden, 1, position_size)) if position_size else None

    def bias(self, labels: torch.Tensor | None, rows: slice = slice(None)) -> torch.Tensor | None:
        """What is added before both gates: the class's bias and the position's, for `rows`."""
        total = None
        if self.class_bias is not None and labels is not None:
            total = self.class_bias(labels)[:, :, None, None]
        if self.row_bias is not None:
            where = self.row_bias[:, :, rows] + self.col_bias
            total = where if total is None else total + where
        return total

    @staticmethod
    def gate(x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return torch.tanh(a) * torch.sigmoid(b)

    def forward(self, v: torch.Tensor, h: torch.Tensor, labels: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        r = self.reach
        v_pre = self.v_conv(F.pad(v, (r, r, r, 0)))
        # shift down one row: the horizontal stack at row i sees vertical features of rows < i only
        v_shifted = F.pad(v_pre, (0, 0, 1, 0))[:, :, :-1]
        h_pre = self.h_conv(F.pad(h, (r, 0, 0, 0))) + self.v_to_h(v_shifted)
        bias = self.bias(labels)
        if bias is not None:
            v_pre, h_pre = v_pre + bias, h_pre + bias
        v_new = self.gate(v_pre)
        if self.v_residual:
            v_new = v_new + v
        h_new = self.h_out(self.gate(h_pre))
        if not self.first:  # the first layer's input includes the current pixel: no residual there
            h_new = h_new + h
        return v_new, h_new


class GatedPixelCNN(nn.Module):
    def __init__(self, channels: int, hidden: int, layers: int, kernel: int, head: int, num_classes: int,
                 per_subpixel: int = 256, dilation_cycle: int = 1, v_residual: bool = False,
                 position_size: int = 0):
        super().__init__()
        groups = channels  # one colour group per image channel (1 for grey)
        hidden = -(-hidden // groups) * groups
        head = -(-head // groups) * groups
        self.channels, self.per_subpixel = channels, per_subpixel
        self.layers = nn.ModuleList(
            GatedLayer(channels if i == 0 else hidden, hidden, kernel, groups, i == 0, num_classes,
                       2 ** (i % dilation_cycle), v_residual, position_size)
            for i in range(layers))
        self.head1 = MaskedConv(hidden, head, (1, 1), colour_mask(head, hidden, groups, True)[:, :, None, None])
        out = per_subpixel * channels
        self.head2 = MaskedConv(head, out, (1, 1), colour_mask(out, head, groups, True)[:, :, None, None])

    def forward(self, pixels_float: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """x in [-1, 1] (B, C, H, W) -> outputs (B, P, C, H, W): P = 256 logits, or 3K mixture parameters."""
        v = h = pixels_float
        for layer in self.layers:
            v, h = layer(v, h, labels)
        logits = self.head2(F.relu(self.head1(F.relu(h))))
        b, _, hh, ww = logits.shape
        return logits.view(b, self.channels, self.per_subpixel, hh, ww).transpose(1, 2)


def scale_pixels(pixels: torch.Tensor) -> torch.Tensor:
    return pixels.float().div(127.5).sub(1.0)


def mixture_nll(params: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """-log P(target) in nats under a mixture of K discretised logistics on the 8-bit grid.

    params (B, 3K, ...): mixture logits, means (on the [-1, 1] scale), log scales; target (B, ...)
    integer values 0..255. Each component is a proper distribution over the 256 values (edge bins
    take the tails), so the mixture is too and the bits/dim are exact."""
    k = params.shape[1] // 3
    logit_w, mean, log_scale = params[:, :k], params[:, k:2 * k], params[:, 2 * k:].clamp(min=MIN_LOG_SCALE)
    log_p = -discretized_logistic_nll(target.unsqueeze(1), mean, log_scale)        # (B, K, ...)
    return -torch.logsumexp(F.log_softmax(logit_w, dim=1) + log_p, dim=1)


def mixture_log_probs(params: torch.Tensor) -> torch.Tensor:
    """(n, 3K) mixture parameters of one subpixel -> log P of each of the 256 values, (n, 256)."""
    values = torch.arange(256, device=params.device)
    n = params.shape[0]
    return -mixture_nll(params[:, :, None].expand(n, params.shape[1], 256), values.expand(n, 256))


# (outputs (n, P) of subpixel (i, j, ch)) -> its value, uint8 (n,)
Chooser = Callable[[torch.Tensor, int, int, int], torch.Tensor]


@torch.no_grad()
def autoregress(net: GatedPixelCNN, n: int, size: int, labels: torch.Tensor | None, choose: Chooser,
                progress=None, device: torch.device | str = "cpu") -> torch.Tensor:
    """Fill an (n, C, size, size) uint8 image subpixel by subpixel, computing only what changed.

    Once row i is complete nothing in it changes again, so each layer's vertical-stack output for
    row i is computed once, from a window of the rows above it. While row i is being filled, only
    the horizontal stack of that one row is recomputed (it sees the vertical stack through the
    one-row shift, i.e. the cached row i - 1). This equals the full forward pass (a test checks it)
    at a fraction of the cost of re-running the network on the whole image per subpixel.
    """
    c = net.channels
    pixels = torch.zeros(n, c, size, size, dtype=torch.uint8, device=device)
    x = torch.zeros(n, c, size, size, device=device)
    layers = list(net.layers)
    v_in = [x] + [None] * len(layers)            # each layer's vertical input, filled row by row
    v_pre_above: list[torch.Tensor | None] = [None] * len(layers)   # v_conv output of row i - 1
    for i in range(size):
        bias = [layer.bias(labels, slice(i, i + 1)) for layer in layers]  # class and row i's position
        # the horizontal stack's view of the rows above: v_to_h of row i - 1 (zero padding for row 0)
        from_above = []
        for k, layer in enumerate(layers):
            above = v_pre_above[k]
            if above is None:
                above = torch.zeros(n, layer.v_to_h.in_channels, 1, size, device=device)
            from_above.append(layer.v_to_h(above))
        for j in range(size):
            for ch in range(c):
                h = x[:, :, i:i + 1]
                for k, layer in enumerate(layers):
                    h_pre = layer.h_conv(F.pad(h, (layer.reach, 0, 0, 0))) + from_above[k]
                    if bias[k] is not None:
                        h_pre = h_pre + bias[k]
                    h_new = layer.h_out(layer.gate(h_pre))
                    h = h_new if layer.first else h_new + h
                col = h[:, :, :, j:j + 1]
                logits = net.head2(F.relu(net.head1(F.relu(col)))).view(n, c, net.per_subpixel)[:, ch]
                value = choose(logits, i, j, ch).to(device, torch.uint8)
                pixels[:, ch, i, j] = value
                x[:, ch, i, j] = value.float() / 127.5 - 1.0
        # row i is final: its vertical-stack outputs, layer by layer, from rows i - reach .. i
        for k, layer in enumerate(layers):
            r = layer.reach
            lo = max(0, i - r)
            window = v_in[k][:, :, lo:i + 1]
            window = F.pad(window, (r, r, r - (i - lo), 0))
            v_pre = layer.v_conv(window)                     # (n, 2h, 1, size)
            v_pre_above[k] = v_pre
            if v_in[k + 1] is None:
                v_in[k + 1] = torch.zeros(n, v_pre.shape[1] // 2, size, size, device=device)
            gated = layer.gate(v_pre if bias[k] is None else v_pre + bias[k])
            if layer.v_residual:
                gated = gated + v_in[k][:, :, i:i + 1]
            v_in[k + 1][:, :, i:i + 1] = gated
        if progress is not None:
            progress(i + 1, size)
    return pixels


class PixelCNNEngine(Engine, Sampler, Likelihood, Autoregressive, Exportable):
    family = "pixelcnn"
    best_metric = "bits_per_dim"

    def __init__(self, config: PixelCNNConfig, data: DataSpec, device="cpu", inputs: dict | None = None):
        super().__init__(config, data, device)
        c = config
        self.conditional = data.num_classes > 0
        self.mixture = c.output == "logistic_mixture"
        self.net = GatedPixelCNN(data.channels, c.hidden, c.layers, c.kernel, c.head,
                                 data.num_classes if self.conditional else 0,
                                 3 * c.mixtures if self.mixture else 256, c.dilation_cycle,
                                 c.vertical_residual, data.size if c.position_bias else 0).to(self.device)
        self.ema = EMA(self.net, c.ema_decay, warmup=True).to(self.device) if c.ema_decay > 0 else None
        self.opt = torch.optim.Adam(self.net.parameters(), lr=c.lr)
        # a scheduler (not a hand-set lr) so checkpoints carry its position and resumes are exact
        half_life = c.lr_half_life
        self.lr_sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lambda step: 0.5 ** (step / half_life) if half_life else 1.0)
        self.temperature = c.temperature

    def _labels(self, batch: Batch) -> torch.Tensor | None:
        return batch.labels if self.conditional else None

    @property
    def model(self) -> GatedPixelCNN:
        """The network that validates and samples: the weight average when there is one."""
        return self.ema.network if self.ema is not None else self.net

    def batch_bits_per_dim(self, batch: Batch, net: GatedPixelCNN | None = None) -> torch.Tensor:
        """Exact discrete bits/dim per image: mean -log2 P(subpixel) under its predicted distribution."""
        out = (net or self.net)(scale_pixels(batch.pixels), self._labels(batch))
        if self.mixture:
            nll = mixture_nll(out, batch.pixels)                                 # (B, C, H, W) nats
        else:
            nll = F.cross_entropy(out, batch.pixels.long(), reduction="none")  # (B, C, H, W) nats
        return nll.flatten(1).mean(1) / LOG2

    def train_step(self, batch: Batch, step: int = 0, total: int = 1) -> dict[str, float]:
        self.net.train()
        loss = self.batch_bits_per_dim(batch).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = self.optimizer_step(self.opt, self.net, clip=self.config.grad_clip)
        self.lr_sched.step()
        if self.ema is not None:
            self.ema.update(self.net)
        return {"bits_per_dim": loss.item(), "grad_norm": grad_norm}

    @torch.no_grad()
    def validate(self, batches: Iterable[Batch]) -> dict[str, float]:
        total, count = 0.0, 0
        for batch in batches:
            bpd = self.batch_bits_per_dim(batch, self.model)
            total += float(bpd.sum())
            count += bpd.shape[0]
        return {"bits_per_dim": total / count} if count else {}

    @torch.no_grad()
    def bits_per_dim(self, images: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        """Exact bits/dim of each image under the model (the weight average when there is one); a
        conditional run without labels sums the class out: p(x) = (1/K) sum_y p(x|y)."""
        net = self.model
        was = net.training
        net.eval()
        try:
            if not self.conditional or labels is not None:
                out = [self.batch_bits_per_dim(b, net).double().cpu() for b in image_batches(images, self.device, labels)]
            else:
                out = [self._marginal_bits(b.pixels, net) for b in image_batches(images, self.device)]
        finally:
            net.train(was)
        return torch.cat(out).numpy() if out else np.zeros(0)

    def _marginal_bits(self, pixels: torch.Tensor, net: GatedPixelCNN) -> torch.Tensor:
        k = self.data.num_classes
        per = torch.stack([self.batch_bits_per_dim(Batch(pixels, torch.full((len(pixels),), c, dtype=torch.long,
                                                                             device=self.device)), net).double()
                           for c in range(k)], 1) * (pixels[0].numel() * LOG2)   # nats per image given each class
        nats = -(torch.logsumexp(-per, 1) - math.log(k))
        return (nats / (pixels[0].numel() * LOG2)).cpu()

    # --- the autoregressive role: subpixels in raster order (R, G, B within a pixel) -------------------------
    def to_sequence(self, images: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.uint8)).to(self.device)
        return x.reshape(len(x), -1).long()

    def to_images(self, seq: torch.Tensor) -> np.ndarray:
        s, c = self.data.size, self.data.channels
        return seq.reshape(len(seq), s, s, c).to(torch.uint8).cpu().numpy()

    def _outputs(self, seq: torch.Tensor, labels) -> tuple[torch.Tensor, torch.Tensor]:
        """(uint8 pixels (B, C, H, W), the network's outputs per subpixel in sequence order (B, L, P))."""
        s, c = self.data.size, self.data.channels
        pixels = seq.reshape(len(seq), s, s, c).permute(0, 3, 1, 2).to(torch.uint8)
        out = self.model(scale_pixels(pixels), labels if self.conditional else None).float()  # (B, P, C, H, W)
        return pixels, out

    def sequence_log_probs(self, seq: torch.Tensor, labels: torch.Tensor | None = None, positions=None) -> torch.Tensor:
        _, out = self._outputs(seq, labels)
        per = out.permute(0, 3, 4, 2, 1).reshape(len(seq), -1, out.shape[1])              # (B, L, P)
        if positions is not None:
            per = per[:, list(positions)]
        flat = per.reshape(-1, per.shape[-1])
        lp = mixture_log_probs(flat) if self.mixture else F.log_softmax(flat, dim=1)
        return lp.view(len(seq), per.shape[1], 256)

    def token_log_probs(self, seq: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        pixels, out = self._outputs(seq, labels)
        nll = mixture_nll(out, pixels) if self.mixture else F.cross_entropy(out, pixels.long(), reduction="none")
        return -nll.permute(0, 2, 3, 1).reshape(len(seq), -1)                             # (B, L) in sequence order

    @torch.no_grad()
    def sample_sequence(self, n: int, generator: torch.Generator, labels: torch.Tensor | None = None,
                        known: torch.Tensor | None = None, fixed: torch.Tensor | None = None,
                        progress=None) -> torch.Tensor:
        s, c = self.data.size, self.data.channels
        y = labels if self.conditional else None
        if self.conditional and y is None:
            y = self._sample_labels(n, None, generator)
        temperature = self.temperature

        def draw(out: torch.Tensor, i: int, j: int, ch: int) -> torch.Tensor:
            logits = mixture_log_probs(out.float()) if self.mixture else out.float()
            probs = torch.softmax(logits / temperature, dim=1).cpu()
            value = torch.multinomial(probs, 1, generator=generator)[:, 0].to(self.device)
            if fixed is None:
                return value
            k = (i * s + j) * c + ch
            return torch.where(fixed[:, k], known[:, k], value)

        net = self.model
        was = net.training
        net.eval()
        try:
            pixels = autoregress(net, n, s, y, draw, progress, self.device)
        finally:
            net.train(was)
        return pixels.permute(0, 2, 3, 1).reshape(n, -1).long()

    # --- export: the network's outputs for every subpixel ---------------------------------------------------
    def export_network(self, batch: int = 2) -> ExportedNetwork:
        spec = self.data
        net = plain_copy(self.model)
        pixels = torch.rand(batch, spec.channels, spec.size, spec.size) * 2 - 1
        about = {"network": "autoregressive logits", "output_kind": "logistic_mixture" if self.mixture else "logits256",
                 "temperature": float(self.temperature)}
        if self.conditional:
            module = Call(net, lambda net, pixels, labels: net(pixels, labels), ("pixels", "labels"))
            return ExportedNetwork(module, {"pixels": pixels, "labels": example_labels(batch, spec.num_classes)},
                                   "logits", about)
        return ExportedNetwork(Call(net, lambda net, pixels: net(pixels, None), ("pixels",)), {"pixels": pixels},
                               "logits", about)

    # --- sampling ------------------------------------------------------------------------------
    sampling_config = PixelCNNSampling

    def sampling_options(self) -> PixelCNNSampling:
        return PixelCNNSampling(self.temperature)

    def apply_sampling_options(self, options: PixelCNNSampling) -> None:
        self.temperature = options.temperature

    @torch.no_grad()
    def sample(self, n: int, seed: int, labels: np.ndarray | None = None, progress=None) -> np.ndarray:
        """One subpixel at a time in raster order (R, G, B within a pixel). `progress(done, total)`
        is called after every row; it may raise Cancelled, which propagates to the caller."""
        gen = torch.Generator().manual_seed(int(seed))
        y = self._sample_labels(n, labels, gen)
        temperature = self.temperature

        def draw(out: torch.Tensor, i: int, j: int, ch: int) -> torch.Tensor:
            logits = mixture_log_probs(out.float()) if self.mixture else out.float()
            probs = torch.softmax(logits / temperature, dim=1).cpu()
            return torch.multinomial(probs, 1, generator=gen)[:, 0]

        net = self.model
        was_training = net.training
        net.eval()
        try:
            pixels = autoregress(net, n, self.data.size, y, draw, progress, self.device)
        finally:
            net.train(was_training)
        return pixels.permute(0, 2, 3, 1).cpu().numpy()

    def modules(self) -> dict[str, nn.Module]:
        return {"pixelcnn": self.net, **({"ema": self.ema} if self.ema is not None else {})}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"pixelcnn": self.opt}

    def schedulers(self) -> dict[str, object]:
        return {"lr": self.lr_sched}


FAMILY = Family(
    name="pixelcnn",
    title="Gated PixelCNN",
    description="Autoregressive model with gated masked convolutions (no blind spot, dilated to see the whole "
                "image) and a discretised logistic mixture (or a 256-way softmax) per subpixel: exact likelihood, "
                "but sampling is sequential, pixel by pixel.",
    config_class=PixelCNNConfig,
    engine_class=PixelCNNEngine,
    preset=preset,
    train_preset=train_preset,
)
