"""GANs: one engine, several recipes (gan, dcgan, cgan, wgan-gp, sngan, sagan) as named defaults.

Options: MLP or DCGAN-shaped conv networks; losses non-saturating BCE, hinge or WGAN-GP (n_critic,
penalty weight); spectral norm on D and/or G; self-attention at chosen resolutions (SAGAN); class
conditioning on subfolder labels (embedding into G, projection discriminator); an exponential moving
average of G used for sampling; DiffAugment for small datasets; R1 penalty; separate G/D learning rates.

Live diagnostics: train_step returns losses only (the Losses panel scales its loss plot by them);
D(real)/D(fake) means and the gradient norms of G and D are averaged between monitor calls and
reported by monitor() as metrics (the panel's metric plot, metrics.jsonl). Every `monitor_every`
steps the sampling generator also draws a fixed batch, whose diversity in a fixed
random feature space is compared with the data's own (mode collapse), the discriminator's
saturation streak is checked (divergence), and for labelled data samples are assigned to classes
by the nearest class mean of real images in the same feature space (a cheap stand-in for a
classifier: it tracks class coverage and, for conditional runs, agreement with the requested class).

The package: losses.py (shared adversarial losses), monitor.py (the collapse/divergence monitor any
adversarial family can mix in), config.py (the recipes' typed settings), engine.py (the engine),
recipes.py (the registered families). The GAN milestones (progan, biggan, stylegan) build on it.
"""

from .config import (CONV, RECIPE_NAMES, CGANConfig, DCGANConfig, GANConfig, SAGANConfig, SNGANConfig,
                     VanillaGANConfig, WGANGPConfig,
                     attention_sizes, check_attention_at, check_gan_options, preset_for_size)
from .engine import GANEngine
from .losses import LOSSES, SATURATION_GAP, d_loss, g_loss, gradient_penalty
from .monitor import (COLLAPSE_WARMUP, DUPLICATE_SHARE, MONITOR_SAMPLES, MONITOR_SEED, NEAR_DUPLICATE,
                      AdversarialMonitor)
from .recipes import CGAN, DCGAN, GAN, SAGAN, SNGAN, WGAN_GP

__all__ = ["CONV", "RECIPE_NAMES", "CGANConfig", "DCGANConfig", "GANConfig", "VanillaGANConfig", "SAGANConfig", "SNGANConfig", "WGANGPConfig",
           "attention_sizes", "check_attention_at", "check_gan_options", "preset_for_size", "GANEngine", "LOSSES", "SATURATION_GAP", "d_loss", "g_loss",
           "gradient_penalty", "COLLAPSE_WARMUP", "DUPLICATE_SHARE", "MONITOR_SAMPLES", "MONITOR_SEED",
           "NEAR_DUPLICATE", "AdversarialMonitor", "CGAN", "DCGAN", "GAN", "SAGAN", "SNGAN", "WGAN_GP"]
