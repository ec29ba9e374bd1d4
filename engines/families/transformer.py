"""Image transformer: a GPT-style decoder that predicts an image one token at a time.

Two variants (setting `variant`):

- pixels: the minGPT image setup. Each pixel is quantised to a few values (`levels` grey levels, or
  for RGB a uniform colour cube of levels^3 colours) and the image becomes a raster-order sequence
  of size x size tokens (at most 32 px: attention over the whole image grows with its square).
  Held-out bits/dim are exact for the model, but *over the quantised pixels*: -log2 P(token) per
  pixel divided by the channels, so the uniform baseline is log2(levels) bits/dim, not 8, and the
  figures are not comparable with the 8-bit bits/dim of PixelCNN or the flows (the quantisation
  itself throws away the rest of the 8 bits; spreading each level evenly over the 256/levels 8-bit
  values it stands for gives an 8-bit upper bound of bits/dim + log2(256/levels), which validation
  reports as bits_per_dim_8bit_bound).
- tokens: the sequence is the h x w token grid of a VQ-VAE (the first stage), so a 28 px digit is 49
  tokens instead of 784 pixels. The first stage is the input `first_stage` (a trained vqvae run or
  model), or, when none is given, trained here first for first_stage_steps steps (phase 1), then
  frozen; the transformer trains in phase 2. Validation reports token_nll (nats per token).

The network: token and learnt position embeddings, pre-norm blocks of causal multi-head
self-attention and an MLP, and a linear read-out to the vocabulary. The first input is a start
token, the class token for labelled data (one start embedding per class, one for "no class"), so
the model learns p(image | class). Sampling feeds one token at a time and keeps each layer's keys
and values (KV cache), so a step costs one token's work instead of the whole prefix; temperature
and top-k are sampling options; progress is reported per row of the image (or token grid) and the
callback may raise Cancelled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..config import ConfigError, param, replace_checked
from ..registry import Family
from . import first_stage as fs
from .base import MAIN_INPUT, Batch, DataSpec, Engine, InputSpec, ProgressFn
from .capabilities import Autoregressive, Likelihood, Sampler

LOG2 = math.log(2.0)
VARIANTS = ("pixels", "tokens")
MAX_PIXELS_SIDE = 32



@dataclass(frozen=True)
class TransformerConfig:
    variant: str = param("pixels", choices=VARIANTS, help="pixels: a token per quantised pixel (at most 32 px). tokens: a token per cell of a VQ-VAE's grid (the first stage).")
    levels: int = param(4, min=2, max=16, help="pixels: grey levels per channel (RGB: levels^3 colours). Bits/dim are over these quantised values.")
    layers: int = param(4, min=1, max=24, help="Transformer blocks.")
    dim: int = param(64, min=8, max=1024, help="Width of the token embeddings (divisible by heads).")
    heads: int = param(4, min=1, max=16, help="Attention heads per block.")
    dropout: float = param(0.0, min=0.0, max=0.5, help="Dropout in attention and MLP (0 suits short CPU runs).")
    conditional: bool = param(True, help="Start each sequence with the class token when the data has labels.")
    lr: float = param(1e-3, min=1e-6, max=1e-1, help="AdamW learning rate (after warm-up).")
    lr_warmup: int = param(100, min=0, max=100_000, help="Steps over which the learning rate ramps up from 0.")
    weight_decay: float = param(0.01, min=0.0, max=1.0, help="AdamW weight decay.")
    grad_clip: float = param(1.0, min=0.0, max=1e6, help="Clip the gradient norm to this unless the run's grad_clip setting is set (0: off).")
    temperature: float = param(1.0, min=0.05, max=2.0, help="Sampling temperature (below 1: cleaner, less varied).")
    top_k: int = param(0, min=0, max=65536, help="Sample only among the k most likely tokens (0: all).")
    # --- first stage (tokens variant) ---
    first_stage_family: str = param("vqvae", choices=("vqvae",), help="tokens: the tokeniser trained here when no first_stage input is given.")
    first_stage_steps: int = param(1500, min=0, max=10_000_000, help="tokens: steps of phase 1 (training the VQ-VAE) before the transformer trains; ignored when a first stage is given.")
    first_stage_width: int = param(32, min=4, max=512, help="tokens: width of the self-trained VQ-VAE.")
    first_stage_latent: int = param(16, min=1, max=512, help="tokens: code dimension of the self-trained VQ-VAE.")
    first_stage_codebook: int = param(64, min=2, max=8192, help="tokens: codebook size (vocabulary) of the self-trained VQ-VAE.")

    def check(self) -> None:
        if self.dim % self.heads:
            raise ConfigError(f"dim ({self.dim}) must be divisible by heads ({self.heads})")


def preset(config: TransformerConfig, size: int) -> TransformerConfig:
    """Up to 20 px the pixels variant (at most 400 tokens) learns digits in CPU minutes. Above that a token
    per pixel is too long a sequence for a CPU budget (784 at 28 px; the tokens variant did far better
    at equal CPU time: README, "Why the recipes are what they are"), so the recipe is the tokens
    variant; variant=pixels still works up to 32 px."""
    if size <= 20:
        return replace_checked(config, layers=4, dim=64, heads=4, levels=4)
    if size <= 32:
        return replace_checked(config, variant="tokens", layers=4, dim=128, heads=4, levels=4)
    # 64 px: pixels are too many tokens; the recipe is the token variant (8 x 8 grid from a 3-halving VQ-VAE)
    return replace_checked(config, variant="tokens", layers=8, dim=256, heads=8, first_stage_width=64,
                           first_stage_latent=32, first_stage_codebook=256, first_stage_steps=5000)


def train_preset(size: int) -> dict:
    return {"batch_size": 16 if size <= 20 else (32 if size <= 32 else 64), "sample_every": 500, "n_samples": 40}


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.drop = nn.Dropout(dropout)
        self.p = dropout

    def forward(self, x: torch.Tensor, cache: dict | None = None) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        past = cache is not None and "k" in cache
        if past:
            k = torch.cat([cache["k"], k], dim=2)
            v = torch.cat([cache["v"], v], dim=2)
        if cache is not None:
            cache["k"], cache["v"] = k, v
        if past and t > 1:
            raise ValueError("the KV cache takes one token at a time")
        attn = F.scaled_dot_product_attention(q, k, v, is_causal=not past and t > 1,
                                              dropout_p=self.p if self.training else 0.0)
        x = x + self.drop(self.proj(attn.transpose(1, 2).reshape(b, t, d)))
        return x + self.drop(self.mlp(self.ln2(x)))


class GPT(nn.Module):
    """start token (B,) + tokens (B, t) -> logits (B, t + 1, vocab) for the next token at each position."""

    def __init__(self, vocab: int, length: int, starts: int, dim: int, layers: int, heads: int, dropout: float):
        super().__init__()
        self.length = length
        self.tok = nn.Embedding(vocab, dim)
        self.start = nn.Embedding(starts, dim)
        self.pos = nn.Parameter(torch.zeros(length, dim))
        nn.init.normal_(self.pos, std=0.02)
        self.blocks = nn.ModuleList(Block(dim, heads, dropout) for _ in range(layers))
        self.ln = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab, bias=False)
        self.apply(self._init)

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)

    def forward(self, start: torch.Tensor | None, tokens: torch.Tensor, caches: list[dict] | None = None,
                offset: int = 0) -> torch.Tensor:
        parts = []
        if start is not None:
            parts.append(self.start(start)[:, None])
        if tokens.shape[1]:
            parts.append(self.tok(tokens))
        x = torch.cat(parts, dim=1)
        x = x + self.pos[offset:offset + x.shape[1]]
        for i, block in enumerate(self.blocks):
            x = block(x, caches[i] if caches is not None else None)
        return self.head(self.ln(x))


def quantise(pixels: torch.Tensor, levels: int) -> torch.Tensor:
    """uint8 (B, C, H, W) -> tokens (B, H*W): per-channel levels, RGB combined as ((r * L) + g) * L + b."""
    q = torch.round(pixels.float() * (levels - 1) / 255.0).long()
    token = torch.zeros_like(q[:, 0])
    for ch in range(q.shape[1]):
        token = token * levels + q[:, ch]
    return token.flatten(1)


def dequantise(tokens: torch.Tensor, levels: int, channels: int, size: int) -> np.ndarray:
    """tokens (B, H*W) -> uint8 (B, H, W, C); level l is the 8-bit value round(l * 255 / (levels - 1))."""
    chans = []
    t = tokens.clone()
    for _ in range(channels):
        chans.append(t % levels)
        t = t // levels
    q = torch.stack(chans[::-1], dim=-1).view(-1, size, size, channels).float()
    return torch.round(q * 255.0 / (levels - 1)).clamp(0, 255).to(torch.uint8).cpu().numpy()


@dataclass(frozen=True)
class TransformerSampling:
    """What `genstudio sample --set` and the Sampler panel may change; the run's settings are the defaults."""
    temperature: float = param(1.0, min=0.05, max=2.0, help="Divides the logits: below 1 gives cleaner, less varied samples.")
    top_k: int = param(0, min=0, max=65536, help="Sample only among the k most likely tokens (0: all).")
    cache: bool = param(True, help="Keep each layer's keys and values between tokens (KV cache); off recomputes the whole prefix at every token: the same images, slower.")


class TransformerEngine(fs.TwoStage, Engine, Sampler):
    """Both variants; constructing it with variant=pixels gives a PixelTransformerEngine (the same engine
    with the Likelihood capability: bits/dim per image), so capabilities follow the run."""
    family = "transformer"
    best_metric = "bits_per_dim"
    first_stage_families = ("vqvae",)
    inputs = (MAIN_INPUT,
              InputSpec("first_stage", "run", "tokens variant: a trained VQ-VAE run or exported model to take "
                            "the tokens from; when not given, one is trained here first.", required=False,
                            families=("vqvae",)))

    def __new__(cls, config: TransformerConfig, *args, **kwargs):
        if cls is TransformerEngine and getattr(config, "variant", "pixels") == "pixels":
            cls = PixelTransformerEngine
        return super().__new__(cls)

    def __init__(self, config: TransformerConfig, data: DataSpec, device="cpu", inputs: dict | None = None):
        super().__init__(config, data, device, inputs)
        c = config
        self.conditional = bool(c.conditional and data.num_classes > 0)
        self.tokens_variant = c.variant == "tokens"
        self.options = TransformerSampling(c.temperature, c.top_k)
        if self.tokens_variant:
            self.best_metric = "token_nll"
            self._init_first_stage(inputs)
        else:
            if data.size > MAX_PIXELS_SIDE:
                raise ConfigError(f"the pixels variant handles images up to {MAX_PIXELS_SIDE} px (a token per pixel); "
                                  f"this data is {data.size} px: use variant tokens")
            if (inputs or {}).get("first_stage") is not None:
                raise ConfigError("the pixels variant takes no first stage; use variant tokens")
            self.first = None
            self.first_given = False
            self.steps_done = 0
            self._build_second_stage()

    # --- building ------------------------------------------------------------------------------------
    def _build_second_stage(self) -> None:
        c = self.config
        if self.tokens_variant:
            self.vocab = self.first.codebook_size
            self.side = self.first.token_grid
        else:
            self.vocab = c.levels ** self.data.channels
            self.side = self.data.size
        self.length = self.side * self.side
        self.net = GPT(self.vocab, self.length, self.data.num_classes + 1, c.dim, c.layers, c.heads,
                       c.dropout).to(self.device)
        decay = [p for n, p in self.net.named_parameters() if p.dim() >= 2 and "pos" not in n]
        rest = [p for n, p in self.net.named_parameters() if not (p.dim() >= 2 and "pos" not in n)]
        self.opt = torch.optim.AdamW([{"params": decay, "weight_decay": c.weight_decay},
                                      {"params": rest, "weight_decay": 0.0}], lr=c.lr, betas=(0.9, 0.95))
        warm = max(1, c.lr_warmup)
        self.lr_sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda s: min(1.0, (s + 1) / warm))

    @property
    def phase(self) -> int:
        return super().phase if self.tokens_variant else 2

    def _encode_one(self, image):
        return self.first.tokens(image).flatten(1)

    def _sequence(self, batch: Batch) -> torch.Tensor:
        if self.tokens_variant:
            return self._cached(batch.pixels)
        return quantise(batch.pixels, self.config.levels)

    def _starts(self, labels: torch.Tensor | None, n: int) -> torch.Tensor:
        if self.conditional and labels is not None:
            return labels.to(self.device).long()
        return torch.full((n,), self.data.num_classes, dtype=torch.long, device=self.device)

    def _nll(self, batch: Batch, net: GPT | None = None) -> torch.Tensor:
        """Negative log-likelihood in nats per token, per image (B,)."""
        seq = self._sequence(batch)
        logits = (net or self.net)(self._starts(batch.labels if self.conditional else None, len(seq)), seq[:, :-1])
        return F.cross_entropy(logits.float().transpose(1, 2), seq, reduction="none").mean(1)

    def _nll_name(self) -> str:
        return "token_nll" if self.tokens_variant else "bits_per_dim"

    def _to_report(self, nll_nats: float) -> float:
        return nll_nats if self.tokens_variant else nll_nats / LOG2 / self.data.channels

    # --- training --------------------------------------------------------------------------------------
    def train_step(self, batch: Batch, step: int = 0, total: int = 1) -> dict[str, float]:
        if self.tokens_variant:
            return super().train_step(batch, step, total)
        self.steps_done += 1
        return self._second_stage_step(batch)

    def _second_stage_step(self, batch: Batch) -> dict[str, float]:
        self.net.train()
        loss = self._nll(batch).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        norm = self.optimizer_step(self.opt, self.net, clip=self.config.grad_clip)
        self.lr_sched.step()
        return {self._nll_name(): self._to_report(loss.item()), "grad_norm": norm}

    def monitor(self, step: int):
        if self.tokens_variant and self.phase == 1:
            return self.first.monitor(step)
        return {}, []

    @torch.no_grad()
    def validate(self, batches: Iterable[Batch]) -> dict[str, float]:
        if self.phase == 1:
            return {f"first_stage_{k}": v for k, v in self.first.validate(batches).items()}
        self.net.eval()
        total, count = 0.0, 0
        for batch in batches:
            nll = self._nll(batch)
            total += float(nll.sum())
            count += nll.shape[0]
        self.net.train()
        if not count:
            return {}
        value = self._to_report(total / count)
        out = {self._nll_name(): value}
        if not self.tokens_variant:
            out["bits_per_dim_8bit_bound"] = value + math.log2(256 / self.config.levels)
        return out

    # --- sampling ------------------------------------------------------------------------------------
    sampling_config = TransformerSampling

    def sampling_options(self) -> TransformerSampling:
        return self.options

    def sampling_limits(self) -> dict:
        return {"top_k": {"max": self.vocab}}

    def apply_sampling_options(self, options: TransformerSampling) -> None:
        self.options = options

    def _choose(self, logits: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        logits = logits.float().cpu() / self.options.temperature
        k = self.options.top_k
        if 0 < k < logits.shape[-1]:
            kth = torch.topk(logits, k, dim=-1).values[:, -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        return torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=gen)[:, 0]

    @torch.no_grad()
    def sample_tokens(self, n: int, seed: int, labels=None, progress: ProgressFn | None = None) -> torch.Tensor:
        """(n, length) tokens, one at a time; progress(row, rows) after each row of the grid."""
        gen = torch.Generator().manual_seed(int(seed))
        return self._generate(n, self._starts(self._sample_labels(n, labels, gen), n), gen, progress=progress)

    def _generate(self, n: int, start: torch.Tensor, gen: torch.Generator, known: torch.Tensor | None = None,
                  fixed: torch.Tensor | None = None, progress: ProgressFn | None = None) -> torch.Tensor:
        """Tokens one at a time after the start tokens; where `fixed` is True the `known` token is kept."""
        seq = torch.zeros(n, self.length, dtype=torch.long, device=self.device)
        was_training = self.net.training
        self.net.eval()
        try:
            caches = [{} for _ in self.net.blocks] if self.options.cache else None
            for i in range(self.length):
                if caches is not None:
                    logits = self.net(start if i == 0 else None, seq[:, i - 1:i] if i else seq[:, :0], caches, offset=i)
                else:
                    logits = self.net(start, seq[:, :i])
                choice = self._choose(logits[:, -1], gen).to(self.device)
                seq[:, i] = choice if fixed is None else torch.where(fixed[:, i], known[:, i], choice)
                if progress is not None and (i + 1) % self.side == 0:
                    progress((i + 1) // self.side, self.side)
        finally:
            self.net.train(was_training)
        return seq

    def sample(self, n: int, seed: int, labels: np.ndarray | None = None, progress: ProgressFn | None = None) -> np.ndarray:
        tokens = self.sample_tokens(n, seed, labels, progress)
        if self.tokens_variant:
            return self.first.decode_tokens(tokens.view(n, self.side, self.side))
        return dequantise(tokens, self.config.levels, self.data.channels, self.data.size)

    def preview(self, n: int, seed: int, labels: np.ndarray | None = None) -> np.ndarray:
        if self.phase == 1:  # the tokeniser is still training: show what it has (its code mosaic)
            return self.first.preview(n, seed)
        return self.sample(n, seed, labels)

    # --- state -------------------------------------------------------------------------------------------
    def modules(self) -> dict[str, nn.Module]:
        mods = {"transformer": self.net}
        if self.tokens_variant:
            mods.update(self._first_stage_modules())
        return mods

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        opts = {"transformer": self.opt}
        if self.tokens_variant:
            opts.update(self._first_stage_optimizers())
        return opts

    def schedulers(self) -> dict[str, object]:
        return {"lr": self.lr_sched}

    def extra_state(self) -> dict:
        return self._first_stage_state() if self.tokens_variant else {"steps_done": self.steps_done}

    def load_extra_state(self, state: dict) -> None:
        if self.tokens_variant:
            self._load_first_stage_state(state)
        else:
            self.steps_done = int(state.get("steps_done", 0))

    def parameter_count(self) -> int:
        return sum(p.numel() for m in self.modules().values() for p in m.parameters())


class PixelTransformerEngine(TransformerEngine, Likelihood, Autoregressive):
    """The pixels variant: exact bits/dim per image, over the quantised pixels (see the module docstring),
    and the autoregressive role over them (inpainting)."""

    @property
    def likelihood_note(self) -> str:
        """What `genstudio evaluate` says under the figure."""
        levels = self.config.levels
        return (f"bits_per_dim is over the {levels} quantised levels per channel (uniform: {math.log2(levels):.2f}), "
                f"not over 8-bit values; bits_per_dim_8bit_bound adds log2(256/{levels})")

    @torch.no_grad()
    def bits_per_dim(self, images: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        """Bits/dim of each image over the quantised pixels; a conditional run without labels sums the
        class out (uniform over classes)."""
        x = torch.from_numpy(np.array(images, dtype=np.uint8)).permute(0, 3, 1, 2).to(self.device)
        was_training = self.net.training
        self.net.eval()
        try:
            if self.conditional and labels is None:
                k = self.data.num_classes
                per = torch.stack([self._nll(Batch(x, torch.full((len(x),), c, dtype=torch.long, device=self.device)))
                                   * self.length for c in range(k)], 1).double()   # nats per image given each class
                nll = -(torch.logsumexp(-per, 1) - math.log(k)) / self.length
            else:
                y = torch.zeros(len(x), dtype=torch.long) if labels is None else torch.as_tensor(np.asarray(labels), dtype=torch.long)
                nll = self._nll(Batch(x, y.to(self.device)))
        finally:
            self.net.train(was_training)
        return (nll / LOG2 / self.data.channels).double().cpu().numpy()

    # --- the autoregressive role: one token per (quantised) pixel -------------------------------------------
    @property
    def temperature(self) -> float:
        return float(self.options.temperature)

    def to_sequence(self, images: np.ndarray) -> torch.Tensor:
        pixels = torch.from_numpy(np.ascontiguousarray(images, dtype=np.uint8)).permute(0, 3, 1, 2)
        return quantise(pixels, self.config.levels).to(self.device)

    def to_images(self, seq: torch.Tensor) -> np.ndarray:
        return dequantise(seq, self.config.levels, self.data.channels, self.data.size)

    def sequence_log_probs(self, seq: torch.Tensor, labels: torch.Tensor | None = None, positions=None) -> torch.Tensor:
        start = self._starts(labels if self.conditional else None, len(seq))
        lp = F.log_softmax(self.net(start, seq[:, :-1]).float(), dim=-1)
        return lp if positions is None else lp[:, list(positions)]

    @torch.no_grad()
    def sample_sequence(self, n: int, generator: torch.Generator, labels: torch.Tensor | None = None,
                        known: torch.Tensor | None = None, fixed: torch.Tensor | None = None,
                        progress: ProgressFn | None = None) -> torch.Tensor:
        if self.conditional and labels is None:
            labels = self._sample_labels(n, None, generator)
        return self._generate(n, self._starts(labels, n), generator, known, fixed, progress)


FAMILY = Family(
    name="transformer",
    title="Image transformer (GPT)",
    description="GPT-style decoder that writes an image one token at a time: quantised pixels (up to 32 px; "
                "bits/dim over the quantised values) or the token grid of a VQ-VAE first stage (given, or "
                "trained here first). Class token for labelled data; KV-cached sampling with temperature and top-k.",
    config_class=TransformerConfig,
    engine_class=TransformerEngine,
    preset=preset,
    train_preset=train_preset,
)
