"""The GAN recipes as registered families (one engine, named defaults)."""

from __future__ import annotations

from ...registry import Family
from .config import (CGANConfig, DCGANConfig, SAGANConfig, SNGANConfig, VanillaGANConfig, WGANGPConfig,
                     preset_for_size)
from .engine import GANEngine


def _family(name: str, title: str, description: str, config_class: type) -> Family:
    return Family(name=name, title=title, description=description, config_class=config_class,
                  engine_class=GANEngine, preset=preset_for_size)


GAN = _family("gan", "GAN (vanilla MLP)", "The original GAN: fully connected generator and discriminator, "
              "BCE loss. A baseline; blurry and unstable on anything but tiny images.", VanillaGANConfig)
DCGAN = _family("dcgan", "DCGAN", "Deep convolutional GAN with the classic recipe (BCE loss, batch norm, "
                "Adam 2e-4/0.5). Sharp samples when it works; watch for mode collapse and divergence.", DCGANConfig)
CGAN = _family("cgan", "Conditional GAN", "The SN-GAN recipe conditioned on subfolder labels: pick the class "
               "to draw. Trains unconditionally when the data has no subfolders.", CGANConfig)
WGAN_GP = _family("wgan-gp", "WGAN-GP", "Wasserstein critic with gradient penalty and 5 critic steps per "
                  "generator step: slow but hard to collapse.", WGANGPConfig)
SNGAN = _family("sngan", "SN-GAN (small-data default)", "Hinge loss, spectral norm and a moving-average "
                "generator (DiffAugment optional): the most reliable GAN for a few thousand images on a CPU.",
                SNGANConfig)
SAGAN = _family("sagan", "SAGAN", "SN-GAN with self-attention, spectral norm in both nets and separate "
                "learning rates (G 1e-4, D 4e-4): better long-range structure, slower per step.", SAGANConfig)
