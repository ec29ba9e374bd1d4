"""The classic DCGAN recipe lives in gan.py with the other GAN recipes; this name stays importable."""

from .gan import DCGAN as FAMILY
from .gan import DCGANConfig, GANEngine as DCGANEngine

__all__ = ["FAMILY", "DCGANConfig", "DCGANEngine"]
