"""VAE, β-VAE and conditional VAE (Kingma & Welling, 2014; Higgins et al., 2017; Sohn et al., 2015).

One engine covers all three: β is a setting (β = 1 is the plain VAE), and the `cvae` family is the
same engine with the decoder also given the image's class (one-hot, from the subfolder labels).
The cVAE's encoder sees the class too, q(z|x,y), so z has less reason to carry the class and the
decoder must take more of it from y (an image-only encoder, or one that had the label hidden for a
quarter of the batches, left the samples noticeably less faithful to the asked-for class in short
runs). `encode(images)` without labels averages the posterior means over all classes, so the
explorer still gets in-distribution latents.

The decoder's likelihood is a proper distribution over the 256 values of each subpixel (see
engines/measures.py), so the validation negative ELBO is an honest upper bound on the true
negative log-likelihood in bits/dim.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..config import param
from ..sampling import LabelSampling
from ..measures import (bernoulli_256_mean, bernoulli_256_nll, discretized_gaussian_nll, discretized_logistic_nll,
                        discretized_mean, nats_to_bits_per_dim)
from ..nn.export_helpers import Call, example_labels, plain_copy
from ..nn.autoencoder import ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder
from ..registry import Family
from .base import Batch, DataSpec, Engine, Finding, image_batches, to_uint8
from .capabilities import Exportable, ExportedNetwork, LatentCodec, LatentRenderer, Likelihood, Reconstructor, Sampler
from .base import class_weights

LIKELIHOODS = ("auto", "bernoulli", "logistic", "gaussian")
# The Bernoulli-on-grey-levels distribution needs logits in the hundreds to put its mass on one
# level; scaling the decoder's output keeps the network's own numbers small.
BERNOULLI_LOGIT_SCALE = 16.0
LOG_SCALE_MIN, LOG_SCALE_MAX = -7.0, 2.0
VALIDATION_SEED = 1234  # fixed posterior noise: validation never touches the global RNG


@dataclass(frozen=True)
class VAEConfig:
    architecture: str = param("conv", choices=("conv", "mlp"),
                              help="conv: convolutional encoder/decoder. mlp: the classic fully connected VAE "
                                   "(a baseline; blurrier samples).")
    latent_dim: int = param(16, min=1, max=1024, help="Number of latent dimensions z.")
    width: int = param(32, min=4, max=256, help="conv: channels of the first layer (doubling with each halving, up to 4x).")
    hidden_units: int = param(512, min=16, max=4096, help="mlp: units in each of the two hidden layers.")
    likelihood: str = param("auto", choices=LIKELIHOODS,
                            help="Decoder distribution of each 8-bit subpixel. auto: bernoulli for near-binary "
                                 "grey images, logistic otherwise (decided from the first batch).")
    beta: float = param(1.0, min=0.0, max=100.0,
                        help="Weight of the KL term (β-VAE). Above 1: more disentangled, blurrier; 1: plain VAE.")
    kl_warmup_steps: int = param(0, min=0, max=1_000_000,
                                 help="Steps over which the KL weight ramps from 0 to β (helps avoid posterior collapse).")
    free_bits: float = param(0.0, min=0.0, max=10.0,
                             help="Nats per latent dimension that cost nothing (Kingma et al., 2016); "
                                  "keeps units active. 0 turns it off.")
    lr: float = param(2e-3, min=1e-6, max=1e-1, help="Learning rate (Adam).")
    grad_clip: float = param(100.0, min=0.0, max=1e6, advanced=True,
                             help="Clip the gradient norm to this; 0 turns clipping off.")
    active_threshold: float = param(0.01, min=0.0, max=10.0, advanced=True,
                                    help="A latent unit counts as active when its mean KL (nats) is above this.")


def preset(config: VAEConfig, size: int) -> VAEConfig:
    """Recipe defaults: a 16-d latent and a short KL warm-up suit 16-32 px; larger images get more."""
    if size <= 32:
        return dataclasses.replace(config, latent_dim=16, width=32, kl_warmup_steps=200)
    return dataclasses.replace(config, latent_dim=32, width=48, kl_warmup_steps=1000)


def cvae_preset(config: VAEConfig, size: int) -> VAEConfig:
    """Half the VAE's latent: a roomy z soaks up the class itself and the samples then follow the asked-for
    label less (README, "Why the recipes are what they are")."""
    config = preset(config, size)
    return dataclasses.replace(config, latent_dim=config.latent_dim // 2)


def choose_likelihood(pixels: torch.Tensor) -> str:
    """'bernoulli' for grey images that are nearly all black or white, else 'logistic'."""
    extreme = ((pixels <= 25) | (pixels >= 230)).float().mean().item()
    return "bernoulli" if pixels.shape[1] == 1 and extreme >= 0.9 else "logistic"


class LatentStats(nn.Module):
    """Per-dimension KL summed since the last monitor() call, and the step count (buffers: checkpointed)."""

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("kl_sum", torch.zeros(dim, dtype=torch.float64))
        self.register_buffer("kl_batches", torch.zeros((), dtype=torch.float64))
        self.register_buffer("steps", torch.zeros((), dtype=torch.int64))


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, 1)) per dimension, in nats."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


class VAEEngine(Engine, Sampler, LatentCodec, Likelihood, LatentRenderer, Reconstructor, Exportable):
    family = "vae"
    exact = False  # bits/dim from the ELBO: an upper bound on the true likelihood
    best_metric = "bits_per_dim"  # held-out, lower is better: the loop keeps a "best" checkpoint
    train_measure = "bpd_bound"  # the same bound on the training batches
    class_mixing = True  # cVAE: the decoder's one-hot input takes a mix of classes as well

    def __init__(self, config: VAEConfig, data: DataSpec, device="cpu", inputs: dict | None = None):
        super().__init__(config, data, device)
        c = config
        self.num_classes = self._conditioning_classes(data)
        self.conditional = self.num_classes > 0
        dec_in = c.latent_dim + self.num_classes
        out_ch = 2 * data.channels  # location and log-scale (bernoulli uses the first half only)
        if c.architecture == "conv":
            self.encoder = ConvEncoder(data.channels, data.size, c.width, 2 * c.latent_dim, extra_dim=self.num_classes)
            self.decoder = ConvDecoder(dec_in, data.size, c.width, out_ch)
        else:
            self.encoder = MLPEncoder(data.channels, data.size, c.hidden_units, 2 * c.latent_dim,
                                      extra_dim=self.num_classes)
            self.decoder = MLPDecoder(dec_in, data.size, c.hidden_units, out_ch)
        self.encoder.to(self.device)
        self.decoder.to(self.device)
        self.stats = LatentStats(c.latent_dim).to(self.device)
        self.opt = torch.optim.Adam(list(self.encoder.parameters()) + list(self.decoder.parameters()), lr=c.lr)
        self.likelihood = None if c.likelihood == "auto" else c.likelihood
        self._collapse_reported = False
        self._unconditional_noted = False  # cvae on unlabelled data says once that it trains as a plain VAE
        self._default_label = 0

    def _conditioning_classes(self, data: DataSpec) -> int:
        return 0  # the cVAE subclass conditions on classes

    # --- the model --------------------------------------------------------------------------------
    def _onehot(self, labels: torch.Tensor, device) -> torch.Tensor:
        if labels.is_floating_point():  # soft class weights (n, classes): the decoder sees the mix itself
            return labels.to(device)
        return F.one_hot(labels.to(device).long().clamp(0, self.num_classes - 1), self.num_classes).float()

    def _posterior(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z|x) or, for the cVAE, q(z|x,y)."""
        extra = self._onehot(labels, x.device) if self.conditional and labels is not None else None
        mu, logvar = self.encoder(x, extra).chunk(2, dim=1)
        return mu, logvar.clamp(-12.0, 8.0)

    def _decoder_input(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        if not self.conditional:
            return z
        if labels is None:
            labels = torch.full((z.shape[0],), self._default_label, dtype=torch.long)
        return torch.cat([z, self._onehot(labels, z.device)], dim=1)

    def _decode_params(self, z: torch.Tensor, labels: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.decoder(self._decoder_input(z, labels))
        loc, log_scale = out.chunk(2, dim=1)
        return loc, log_scale.clamp(LOG_SCALE_MIN, LOG_SCALE_MAX)

    def _pixel_nll(self, pixels: torch.Tensor, loc: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
        """-log p(x|z) in nats per image."""
        if self.likelihood == "bernoulli":
            nll = bernoulli_256_nll(pixels, loc * BERNOULLI_LOGIT_SCALE)
        elif self.likelihood == "gaussian":
            nll = discretized_gaussian_nll(pixels, loc, log_scale)
        else:
            nll = discretized_logistic_nll(pixels, loc, log_scale)
        return nll.flatten(1).sum(1)

    def _image_mean(self, loc: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
        """The decoder distribution's mean on [-1, 1] (what we show: pixel noise would only add grain)."""
        if self.likelihood == "bernoulli":
            mean = bernoulli_256_mean(loc * BERNOULLI_LOGIT_SCALE)
        else:
            mean = discretized_mean(loc, log_scale, "gaussian" if self.likelihood == "gaussian" else "logistic")
        return mean / 127.5 - 1.0

    def _decide_likelihood(self, pixels: torch.Tensor) -> None:
        if self.likelihood is None:
            self.likelihood = choose_likelihood(pixels)

    # --- training -----------------------------------------------------------------------------------
    def kl_weight(self) -> float:
        c = self.config
        if c.kl_warmup_steps <= 0:
            return c.beta
        return c.beta * min(1.0, float(self.stats.steps) / c.kl_warmup_steps)

    def train_step(self, batch: Batch, step: int = 0, total: int = 1) -> dict[str, float]:
        self._decide_likelihood(batch.pixels)
        self.encoder.train()
        self.decoder.train()
        mu, logvar = self._posterior(batch.float(), batch.labels)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        loc, log_scale = self._decode_params(z, batch.labels)
        recon = self._pixel_nll(batch.pixels, loc, log_scale).mean()
        kl_dims = gaussian_kl(mu, logvar).mean(0)
        kl_cost = kl_dims.clamp_min(self.config.free_bits).sum() if self.config.free_bits > 0 else kl_dims.sum()
        dims = batch.pixels[0].numel()
        loss = (recon + self.kl_weight() * kl_cost) / dims  # per dimension: the same step size at any image size
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer_step(self.opt, [*self.encoder.parameters(), *self.decoder.parameters()],
                            clip=self.config.grad_clip)
        with torch.no_grad():
            self.stats.kl_sum += kl_dims.detach().double()
            self.stats.kl_batches += 1
            self.stats.steps += 1
        kl = kl_dims.sum().item()
        return {"recon": recon.item(), "kl": kl,
                "bpd_bound": float(nats_to_bits_per_dim(recon.item() + kl, dims))}

    @torch.no_grad()
    def validate(self, batches: Iterable[Batch]) -> dict[str, float]:
        """Held-out negative ELBO (β = 1, no free bits) in bits/dim: an upper bound on the true NLL."""
        self.encoder.eval()
        self.decoder.eval()
        gen = torch.Generator().manual_seed(VALIDATION_SEED)
        recon_sum, kl_dims_sum, n, dims = 0.0, None, 0, 1
        for batch in batches:
            recon_b, kl_b = self._negative_elbo(batch, gen)
            recon_sum += float(recon_b.sum())
            kl_b = kl_b.sum(0)
            kl_dims_sum = kl_b if kl_dims_sum is None else kl_dims_sum + kl_b
            n += batch.pixels.shape[0]
            dims = batch.pixels[0].numel()
        if n == 0:
            return {}
        recon, kl_dims = recon_sum / n, kl_dims_sum / n
        kl = float(kl_dims.sum())
        return {"bits_per_dim": float(nats_to_bits_per_dim(recon + kl, dims)),
                "recon_nats": recon, "kl_nats": kl,
                "active_units": float((kl_dims > self.config.active_threshold).sum())}

    def _negative_elbo(self, batch: Batch, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Per image: reconstruction nats (B,) and KL nats per latent dimension (B, Z), float64."""
        self._decide_likelihood(batch.pixels)
        mu, logvar = self._posterior(batch.float(), batch.labels)
        eps = torch.randn(mu.shape, generator=gen).to(mu.device)
        loc, log_scale = self._decode_params(mu + eps * (0.5 * logvar).exp(), batch.labels)
        return self._pixel_nll(batch.pixels, loc, log_scale).double(), gaussian_kl(mu, logvar).double()

    @torch.no_grad()
    def bits_per_dim(self, images: np.ndarray, labels: np.ndarray | None = None, draws: int = 1) -> np.ndarray:
        """Negative ELBO of each image in bits/dim (β = 1, no free bits; the reconstruction term
        averaged over `draws` posterior draws): an upper bound on its NLL. A cVAE without labels
        sums the class out (uniform over classes)."""
        self.encoder.eval()
        self.decoder.eval()
        images = np.ascontiguousarray(images, dtype=np.uint8)
        if len(images) and self.likelihood is None:
            self._decide_likelihood(torch.from_numpy(images))
        gen = torch.Generator().manual_seed(VALIDATION_SEED)
        out = []
        for batch in image_batches(images, self.device, labels):
            if self.conditional and labels is None:
                k = self.num_classes
                per = torch.stack([self._elbo_nats(batch.pixels, torch.full((len(batch.pixels),), c, dtype=torch.long,
                                                                             device=self.device), gen, draws)
                                   for c in range(k)], 1)
                nats = -(torch.logsumexp(-per, 1) - math.log(k))
            else:
                nats = self._elbo_nats(batch.pixels, batch.labels if self.conditional else None, gen, draws)
            out.append(nats_to_bits_per_dim(nats, batch.pixels[0].numel()).cpu())
        return torch.cat(out).double().numpy() if out else np.zeros(0)

    def _elbo_nats(self, pixels: torch.Tensor, labels: torch.Tensor | None, gen: torch.Generator,
                   draws: int) -> torch.Tensor:
        """Negative ELBO in nats per image (float64), the reconstruction averaged over `draws` draws."""
        x = pixels.float() / 127.5 - 1.0
        mu, logvar = self._posterior(x, labels)
        recon = torch.zeros(len(x), dtype=torch.float64, device=x.device)
        for _ in range(max(1, int(draws))):
            z = mu + torch.randn(mu.shape, generator=gen).to(mu.device) * (0.5 * logvar).exp()
            recon = recon + self._pixel_nll(pixels, *self._decode_params(z, labels)).double()
        return recon / max(1, int(draws)) + gaussian_kl(mu, logvar).sum(1).double()

    def monitor(self, step: int) -> tuple[dict[str, float], list[Finding]]:
        """Active latent units over the last interval; a posterior-collapse finding when few remain."""
        if float(self.stats.kl_batches) == 0:
            return {}, []
        kl_dims = self.stats.kl_sum / self.stats.kl_batches
        self.stats.kl_sum.zero_()
        self.stats.kl_batches.zero_()
        active = int((kl_dims > self.config.active_threshold).sum())
        dim = self.config.latent_dim
        findings = []
        settled = int(self.stats.steps) >= max(100, self.config.kl_warmup_steps)
        collapsed = settled and active <= max(0, dim // 8)
        if collapsed and not self._collapse_reported:
            findings.append(Finding("posterior-collapse",
                                    f"posterior collapse: only {active} of {dim} latent units carry information "
                                    f"(KL > {self.config.active_threshold:g} nats); try KL warm-up, free bits or a "
                                    f"smaller β"))
        self._collapse_reported = collapsed
        return {"active_units": float(active), "kl_per_unit_max": float(kl_dims.max())}, findings

    # --- sampling and the latent space -----------------------------------------------------------------
    def _labels_for(self, n: int, labels) -> torch.Tensor | None:
        if not self.conditional:
            return None
        if labels is None:  # one of each class in turn: a grid of all classes
            return torch.arange(n) % self.num_classes
        soft = class_weights(labels, n, self.num_classes)
        if soft is not None:
            return soft
        labels = torch.as_tensor(np.asarray(labels), dtype=torch.long).flatten()
        if labels.numel() == 1:
            labels = labels.expand(n)
        if labels.numel() != n or labels.min() < 0 or labels.max() >= self.num_classes:
            raise ValueError(f"labels must be {n} class indices in 0..{self.num_classes - 1}")
        return labels

    def random_latents(self, n: int, seed: int) -> torch.Tensor:
        return torch.randn(n, self.config.latent_dim, generator=torch.Generator().manual_seed(int(seed)))

    @torch.no_grad()
    def encode(self, images: np.ndarray, labels=None, progress=None) -> torch.Tensor:
        """Posterior means of uint8 (N, H, W, C) images (cVAE: given their classes, else averaged over classes)."""
        self.encoder.eval()
        out = []
        for i in range(0, len(images), 256):
            # np.array copies: the images may be a read-only memmap, which torch warns about
            x = torch.from_numpy(np.array(images[i:i + 256])).permute(0, 3, 1, 2).float()
            x = (x / 127.5 - 1.0).to(self.device)
            if labels is not None:
                lab = torch.as_tensor(np.asarray(labels)[i:i + 256], dtype=torch.long)
                out.append(self._posterior(x, lab)[0].cpu())
            elif self.conditional:
                means = [self._posterior(x, torch.full((len(x),), c))[0] for c in range(self.num_classes)]
                out.append(torch.stack(means).mean(0).cpu())
            else:
                out.append(self._posterior(x)[0].cpu())
        return torch.cat(out) if out else torch.zeros(0, self.config.latent_dim)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, labels=None, progress=None) -> np.ndarray:
        """Decoder means as uint8 images. cVAE: `labels` per latent (indices, or class weights (n, classes)),
        else the sampling option `label` (class 0)."""
        was_training = self.decoder.training
        self.decoder.eval()
        try:
            z = latents.to(self.device, torch.float32)
            lab = self._labels_for(len(z), labels) if labels is not None else None
            return to_uint8(self._image_mean(*self._decode_params(z, lab)))
        finally:
            self.decoder.train(was_training)

    def sample(self, n: int, seed: int, labels: np.ndarray | None = None, progress=None) -> np.ndarray:
        return self.decode(self.random_latents(n, seed), labels=self._labels_for(n, labels))

    sampling_config = LabelSampling

    def sampling_options(self) -> LabelSampling:
        return LabelSampling(self.data.class_names[self._default_label] if self.conditional and self.data.class_names else "")

    def sampling_limits(self) -> dict:
        return {"label": {"choices": self.data.class_names}} if self.conditional else {"label": None}

    def apply_sampling_options(self, options: LabelSampling) -> None:
        if self.conditional and options.label:
            self._default_label = list(self.data.class_names).index(options.label)

    # --- roles: latent renderer, reconstructor, export ----------------------------------------------------
    renders_encoded = True

    def latent_shape(self) -> tuple[int, ...]:
        return (self.config.latent_dim,)

    def render_u(self, u: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self._image_mean(*self._decode_params(u, labels if self.conditional else None))

    def encode_u(self, images: np.ndarray, labels: np.ndarray | None = None) -> torch.Tensor:
        return self.encode(images, labels=labels if self.conditional else None).to(self.device)

    def reconstruct(self, images: np.ndarray, labels: np.ndarray | None = None, progress=None) -> np.ndarray:
        lab = labels if self.conditional else None
        return self.decode(self.encode(images, labels=lab), labels=lab)

    def _traceable_image_mean(self, loc: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
        """_image_mean in one pass: measures.discretized_mean works in chunks of pixels (to bound
        memory), a loop over the batch size that a traced graph cannot keep dynamic. Same formula;
        the export test checks it against the engine's own."""
        from ..measures import BIN_HALF_WIDTH

        if self.likelihood == "bernoulli":
            return self._image_mean(loc, log_scale)
        survival = torch.special.ndtr if self.likelihood == "gaussian" else torch.sigmoid
        edges = torch.arange(1, 256, dtype=loc.dtype) / 127.5 - 1.0 - BIN_HALF_WIDTH
        mean = survival((loc[..., None] - edges) / torch.exp(log_scale)[..., None]).sum(-1)
        return mean / 127.5 - 1.0

    def export_network(self, batch: int = 2) -> ExportedNetwork:
        """The decoder distribution's mean, (z [, labels]) -> images in [-1, 1]."""
        twin = copy.copy(self)              # the engine's own decoding maths over a plain decoder
        twin.decoder = plain_copy(self.decoder)
        z = torch.randn(batch, self.config.latent_dim)
        classes = torch.arange(max(self.data.num_classes, 1))

        def decode(net, z, labels=None):
            if labels is not None:  # one-hot by comparison (F.one_hot would fix the batch size)
                labels = (labels[:, None] == classes[None, :]).float()
            return twin._traceable_image_mean(*twin._decode_params(z, labels))
        about = {"network": "decoder mean", "range": [-1, 1], "likelihood": self.likelihood}
        if self.conditional:
            module = Call(twin.decoder, lambda net, z, labels: decode(net, z, labels), ("z", "labels"))
            return ExportedNetwork(module, {"z": z, "labels": example_labels(batch, self.data.num_classes)},
                                   "images", about)
        return ExportedNetwork(Call(twin.decoder, lambda net, z: decode(net, z), ("z",)), {"z": z}, "images", about)

    # --- state ---------------------------------------------------------------------------------------
    def modules(self) -> dict[str, nn.Module]:
        return {"encoder": self.encoder, "decoder": self.decoder, "latent_stats": self.stats}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"vae": self.opt}

    def extra_state(self) -> dict:
        return {"likelihood": self.likelihood, "collapse_reported": self._collapse_reported}

    def load_extra_state(self, state: dict) -> None:
        chosen = state.get("likelihood")
        if chosen is not None:
            self.likelihood = chosen
        self._collapse_reported = bool(state.get("collapse_reported", False))


class CVAEEngine(VAEEngine):
    family = "cvae"

    def _conditioning_classes(self, data: DataSpec) -> int:
        # Unlabelled data: nothing to condition on, so it trains as a plain VAE (conditional stays False).
        return data.num_classes if data.num_classes > 1 else 0

    def monitor(self, step: int) -> tuple[dict[str, float], list[Finding]]:
        metrics, findings = super().monitor(step)
        if not self.conditional and not self._unconditional_noted:  # say once that it is a plain VAE
            self._unconditional_noted = True
            findings.append(Finding(
                "unconditional",
                "cvae is training unconditionally, as a plain VAE: the data has no class subfolders (or only "
                "one), so there are no classes to pick or mix. Put each class in its own subfolder to train "
                "it class-conditionally."))
        return metrics, findings

    def extra_state(self) -> dict:
        return {**super().extra_state(), "unconditional_noted": self._unconditional_noted}

    def load_extra_state(self, state: dict) -> None:
        super().load_extra_state(state)
        self._unconditional_noted = bool(state.get("unconditional_noted", False))


_LIKELIHOOD_NOTE = ("Validation bits_per_dim is the negative ELBO, an upper bound on the true negative "
                    "log-likelihood.")

FAMILY = Family(
    name="vae",
    title="VAE / β-VAE",
    description="Variational autoencoder with a Gaussian latent and an 8-bit pixel likelihood; β > 1 gives a β-VAE. "
                "Smooth latent space, somewhat blurry samples. " + _LIKELIHOOD_NOTE,
    config_class=VAEConfig,
    engine_class=VAEEngine,
    preset=preset,
)

CVAE_FAMILY = Family(
    name="cvae",
    title="Conditional VAE",
    description="VAE whose decoder is told the class (subfolder): sample a chosen class or a grid of all classes. "
                "Trains as a plain VAE on unlabelled data. " + _LIKELIHOOD_NOTE,
    config_class=VAEConfig,
    engine_class=CVAEEngine,
    preset=cvae_preset,
)
