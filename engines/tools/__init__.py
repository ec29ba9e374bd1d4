"""Tools that put a trained run to work beyond sampling, one module each, Qt-free:

    score       anomaly scores (bits/dim with a complexity correction, ELBO, reconstruction,
                projection or denoising error), with the held-out split as reference
    inpaint     fill a masked region (RePaint, PixelCNN conditional/Gibbs sampling, latent fitting)
    denoise     remove Gaussian noise (diffusion from the matching step, encode-decode, latent MAP)
    upscale     super-resolution to the run's size (ILVR-style diffusion, latent fitting)
    synthesize  a labelled synthetic dataset with a manifest and its classification accuracy score

Each tool picks its method from what the family can do and says which one it used; a family that
cannot do a tool gets one sentence naming the families that can (ToolError).
"""

from .common import ToolError

TOOLS = ("score", "inpaint", "denoise", "upscale", "synthesize")

__all__ = ["ToolError", "TOOLS"]
